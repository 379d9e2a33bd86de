/**
 * The file `sluice keys import` (and `POST /admin/keys/import`) reads: existing API keys
 * of the API sluice is put in front of, one per line, as CSV with a header line or as
 * JSON lines. Fields: `account` (required), `size`, `plan`, and either `key` (the secret
 * itself, any format; hashed here and never kept or echoed) or `sha256` (the hex SHA-256
 * of the key as clients send it).
 *
 * The format is told by the first line that is not blank: a line starting with `{` is
 * JSON lines, anything else the CSV header. Every bad line is reported with its number
 * and what is wrong, and one bad line rejects the whole file: messages never quote a
 * key (not even a JSON parser's message, which would).
 *
 * @example
 * parseKeyImport('account,size,plan,key\nacme,12,standard,live_4f9a…\n');
 * // [{ line: 2, account: 'acme', size: 12, plan: 'standard', hash: '…64 hex…' }]
 */
import { hashApiKey } from './api-key.ts';
import { quote } from './echo.ts';
import { type Problem, SluiceError } from './errors.ts';
import { didYouMean } from './policy/did-you-mean.ts';

/** One key of the file, its secret already hashed. */
export interface ImportLine {
  /** 1-based line number in the file, for messages. */
  readonly line: number;
  readonly account: string;
  /** Absent: a new account gets 1, an existing one keeps its size. */
  readonly size: number | undefined;
  /** Absent: a new account gets the default plan, an existing one keeps its plan. */
  readonly plan: string | undefined;
  /** SHA-256 of the key, lower-case hex: what the gateway looks the key up by. */
  readonly hash: string;
}

export const IMPORT_FIELDS = ['account', 'size', 'plan', 'key', 'sha256'] as const;

/** Account ids travel to the upstream in a header: printable, no spaces (as `sluice keys`). */
const ACCOUNT_ID = /^[\w.:@-]{1,128}$/;
const PLAN_NAME = /^[A-Za-z0-9][\w-]{0,63}$/;
const SHA256 = /^[0-9a-fA-F]{64}$/;
/** Longest key accepted: longer is no API key but a mistake (a whole line pasted). */
const MAX_KEY = 1024;
/** Problems listed at most; the count says how many more. */
const MAX_PROBLEMS = 20;

type Fields = Partial<Record<(typeof IMPORT_FIELDS)[number], unknown>>;

/**
 * The keys of an import file, or `SLUICE_ERR_IMPORT_INVALID` listing every bad line.
 * `source` names the file in the message.
 *
 * @example
 * parseKeyImport('{"account":"acme","sha256":"9f86…"}\n', 'keys.jsonl');
 */
export function parseKeyImport(text: string, source = 'the import'): ImportLine[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const problems: Problem[] = [];
  const out: ImportLine[] = [];
  const first = lines.findIndex((l) => l.trim() !== '');
  if (first === -1) {
    throw importError(source, 'has no keys: it is empty', []);
  }
  const json = lines[first].trimStart().startsWith('{');
  let columns: string[] = [];
  if (!json) {
    columns = (splitCsv(lines[first]) ?? []).map((c) => c.trim().toLowerCase());
    const header = checkHeader(columns);
    if (header !== undefined) {
      throw importError(source, 'has a wrong header line', [
        { path: '', line: first + 1, message: header },
      ]);
    }
  }
  for (let i = json ? first : first + 1; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    const line = i + 1;
    const fields = json ? jsonFields(lines[i]) : csvFields(lines[i], columns);
    if (typeof fields === 'string') {
      problems.push({ path: '', line, message: fields });
      continue;
    }
    const parsed = checkLine(fields, line);
    if (typeof parsed === 'string') problems.push({ path: '', line, message: parsed });
    else out.push(parsed);
  }
  if (problems.length > 0) {
    const n = problems.length;
    const shown = problems.slice(0, MAX_PROBLEMS);
    if (n > MAX_PROBLEMS)
      shown.push({ path: '', message: `and ${n - MAX_PROBLEMS} more bad lines` });
    throw importError(
      source,
      `has ${n} bad line${n === 1 ? '' : 's'}; nothing was imported`,
      shown,
    );
  }
  if (out.length === 0) throw importError(source, 'has no keys: only a header line', []);
  return out;
}

function importError(source: string, what: string, problems: Problem[]): SluiceError {
  return new SluiceError('SLUICE_ERR_IMPORT_INVALID', `${source} ${what}`, {
    problems,
    exitCode: 2,
  });
}

function checkHeader(columns: readonly string[]): string | undefined {
  const isField = (c: string) => (IMPORT_FIELDS as readonly string[]).includes(c);
  for (const c of columns) {
    if (!isField(c)) {
      const meant = didYouMean(c, IMPORT_FIELDS);
      // A first line that names no column is a data line (the header was left out): its
      // values may be keys, so none is echoed.
      if (meant === undefined && !columns.some(isField)) {
        return `the first line names no column: a CSV file starts with its header line (columns: ${IMPORT_FIELDS.join(', ')})`;
      }
      return `unknown column ${quote(c)}${meant === undefined ? '' : `; did you mean ${meant}?`} (columns: ${IMPORT_FIELDS.join(', ')}; the first line is the header)`;
    }
  }
  const twice = columns.find((c, i) => columns.indexOf(c) !== i);
  if (twice !== undefined) return `column ${twice} appears twice`;
  if (!columns.includes('account'))
    return 'no account column (columns: account, size, plan, key or sha256)';
  if (!columns.includes('key') && !columns.includes('sha256')) {
    return 'no key or sha256 column: each line needs the key itself or its SHA-256';
  }
  return undefined;
}

/** A JSON line's fields, or what is wrong (never the parser's words: they quote the text). */
function jsonFields(text: string): Fields | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not valid JSON (JSON lines: one object per line, like {"account":"acme","key":"…"})';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'not a JSON object (JSON lines: one object per line)';
  }
  for (const name of Object.keys(value)) {
    if (!(IMPORT_FIELDS as readonly string[]).includes(name)) {
      const meant = didYouMean(name, IMPORT_FIELDS);
      return `unknown field ${quote(name)}${meant === undefined ? '' : `; did you mean ${meant}?`} (fields: ${IMPORT_FIELDS.join(', ')})`;
    }
  }
  return value as Fields;
}

function csvFields(text: string, columns: readonly string[]): Fields | string {
  const cells = splitCsv(text);
  if (cells === undefined) return 'a quoted value is not closed';
  if (cells.length !== columns.length) {
    return `has ${cells.length} values, the header ${columns.length} (${columns.join(', ')})`;
  }
  const fields: Record<string, string> = {};
  for (let c = 0; c < columns.length; c++) {
    if (cells[c].trim() !== '') fields[columns[c]] = cells[c].trim();
  }
  return fields;
}

/**
 * One CSV line's cells (RFC 4180 quoting: `"a,b"`, `""` for a quote), or undefined when
 * a quote is left open. Lines are records: a value cannot span lines.
 */
function splitCsv(text: string): string[] | undefined {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"' && cell.trim() === '') {
      quoted = true;
      cell = '';
    } else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else cell += ch;
  }
  if (quoted) return undefined;
  cells.push(cell);
  return cells;
}

function checkLine(f: Fields, line: number): ImportLine | string {
  const { account, size, plan, key, sha256 } = f;
  if (account === undefined) return 'no account';
  if (typeof account !== 'string' || !ACCOUNT_ID.test(account)) {
    return `account must be 1 to 128 letters, digits or . _ : @ -, got ${typeof account === 'string' ? quote(account) : typeof account}`;
  }
  let n: number | undefined;
  if (size !== undefined && size !== null) {
    n =
      typeof size === 'number'
        ? size
        : typeof size === 'string' && /^\d+$/.test(size)
          ? Number(size)
          : Number.NaN;
    if (!Number.isSafeInteger(n) || n < 0) {
      return `size must be a whole number of 0 or more (seats, devices…), got ${quote(String(size))}`;
    }
  }
  if (plan !== undefined && plan !== null && (typeof plan !== 'string' || !PLAN_NAME.test(plan))) {
    return `plan must be a plan name (letters, digits, _ and -), got ${quote(String(plan))}`;
  }
  const hasKey = given(key);
  const hasHash = given(sha256);
  if (hasKey === hasHash) {
    return hasKey
      ? 'has both key and sha256: give one of them'
      : 'no key and no sha256: give the key itself or its SHA-256';
  }
  let hash: string;
  if (hasKey) {
    // Never quoted in a message: it is the secret.
    if (typeof key !== 'string') return 'key must be a string';
    const secret = key.trim();
    if (secret.length > MAX_KEY) return `key is longer than ${MAX_KEY} characters`;
    // A header value cannot carry these; a key with them could never be presented.
    if (hasSpaceOrControl(secret)) return 'key contains a space or a control character';
    hash = hashApiKey(secret);
  } else {
    if (typeof sha256 !== 'string' || !SHA256.test(sha256.trim())) {
      return 'sha256 must be 64 hexadecimal characters (the SHA-256 of the key as clients send it)';
    }
    hash = sha256.trim().toLowerCase();
  }
  return {
    line,
    account,
    size: n,
    plan: typeof plan === 'string' ? plan : undefined,
    hash,
  };
}

/**
 * Whether a field has a value: null and a blank string do not, as an empty CSV cell (cells
 * are trimmed), so a JSON `"key": " "` is no key rather than the hash of "".
 */
function given(value: unknown): boolean {
  return (
    value !== undefined && value !== null && !(typeof value === 'string' && value.trim() === '')
  );
}

/** Whether `text` has whitespace or a control character (U+0000–U+0020, U+007F). */
function hasSpaceOrControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || /\s/.test(text[i])) return true;
  }
  return false;
}
