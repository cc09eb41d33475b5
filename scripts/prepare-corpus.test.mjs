// Tests for the Brown Corpus conversion and for the bundled sample.
// Run with: node --test scripts/prepare-corpus.test.mjs

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { convertDocument, renderTokens, splitToken } from './prepare-corpus-brown.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const samplePath = path.join(repoRoot, 'data', 'brown-sample.txt');

/** Converts a space-separated line of `word/tag` tokens and renders it. */
function render(taggedLine) {
  return renderTokens(taggedLine.split(' ').map((token) => splitToken(token, 'test')));
}

test('splitToken splits at the last slash', () => {
  assert.deepEqual(splitToken('and/or/cc', 'test'), { word: 'and/or', tag: 'cc' });
  assert.deepEqual(splitToken('//in', 'test'), { word: '/', tag: 'in' });
  assert.deepEqual(splitToken('/l//nn', 'test'), { word: '/l/', tag: 'nn' });
  assert.deepEqual(splitToken("1/4''/nn", 'test'), { word: "1/4''", tag: 'nn' });
});

test('splitToken rejects a token without tag', () => {
  assert.throws(() => splitToken('word', 'ca01:7'), /Invalid token "word" at ca01:7/);
  assert.throws(() => splitToken('word/', 'ca01:7'), /Invalid token "word\/" at ca01:7/);
});

test('renderTokens attaches punctuation and quotes', () => {
  assert.equal(
    render("The/at jury/nn said/vbd ,/, ``/`` no/at evidence/nn ''/'' ./."),
    'The jury said, "no evidence".',
  );
  assert.equal(render('Reps./nns V./np (/( Red/jj )/) Berry/np ;/. ;/. done/vbn'), 'Reps. V. (Red) Berry; done');
  assert.equal(render('Teachers/nns --/-- men/nns --/-- came/vbd'), 'Teachers -- men -- came');
});

test('renderTokens removes doubled marks', () => {
  assert.equal(render('Check/vb the/at oil/nn ?/. ?/.'), 'Check the oil?');
  assert.equal(render('Stop/vb !/. !/.'), 'Stop!');
  assert.equal(render('William/np (/( (/( Bill/np )/) Shea/np'), 'William (Bill) Shea');
  assert.equal(render('won/vbn by/in Ivan/np Allen/np Jr./np ./.'), 'won by Ivan Allen Jr.');
});

test('renderTokens converts inch marks', () => {
  assert.equal(render("cut/vbn 5-3/4''/nns ''/'' long/jj ./."), 'cut 5-3/4" long.');
});

test('renderTokens alternates single quotes', () => {
  assert.equal(
    render("more/ap '/' pro/nn '/' letters/nns than/cs '/' con/nn '/' ./."),
    "more 'pro' letters than 'con'.",
  );
  assert.equal(render("Atlanta's/np$ '49/cd team/nn"), "Atlanta's '49 team");
});

test('convertDocument joins paragraphs and separates headlines', () => {
  const tagged = [
    '',
    '',
    '\tThe/at jury/nn said/vbd so/rb ./.',
    'It/pps agreed/vbd ./.',
    '',
    '',
    'Merger/nn-hl proposed/vbn-hl ',
    'However/wrb ,/, it/pps failed/vbd ./.',
    '',
    '',
    '\t``/`` Only/rb a/at handful/nn ./.',
    "''/'' ",
    '',
  ].join('\n');

  assert.deepEqual(convertDocument(tagged, 'test'), [
    'The jury said so. It agreed.',
    'Merger proposed',
    'However, it failed.',
    '"Only a handful."',
  ]);
});

test('convertDocument moves a lone opening quote forward', () => {
  const tagged = ['\tHe/pps declared/vbd ./.', '``/`` ', '', '', '\tWe/ppss began/vbd ./.', "''/'' "].join('\n');

  assert.deepEqual(convertDocument(tagged, 'test'), ['He declared.', '"We began."']);
});

test('bundled sample matches the documented format', () => {
  const bytes = fs.readFileSync(samplePath);
  const text = bytes.toString('latin1');

  assert.ok(bytes.length <= 1_000_000, `sample has ${bytes.length} bytes, more than 1000000`);
  assert.ok(bytes.length >= 900_000, `sample has ${bytes.length} bytes, expected about 1 MB`);
  assert.equal(bytes.findIndex((byte) => byte > 0x7e || (byte < 0x20 && byte !== 0x0a)), -1, 'sample must be printable ASCII');
  assert.ok(text.endsWith('\n'), 'sample must end with a line feed');
  assert.ok(!text.endsWith('\n\n'), 'sample must not end with an empty line');
  assert.ok(!text.includes('\n\n\n'), 'documents must be separated by exactly one empty line');

  const lines = text.slice(0, -1).split('\n');
  const paddedLine = lines.findIndex((line) => line !== line.trim());
  assert.equal(paddedLine, -1, `line ${paddedLine + 1} has leading or trailing spaces`);

  const documents = text.slice(0, -1).split('\n\n');
  assert.equal(documents.length, 84);
  assert.ok(documents[0].startsWith('The Fulton County Grand Jury said Friday'));
});
