/**
 * Values people give (arguments, policy values, keys) are echoed in error messages so
 * they can see what was wrong; a 10 KB argument must not become a 10 KB message. One
 * rule everywhere: the first 60 characters, then how long the value was.
 */

/** Characters of a value kept when it is echoed. */
export const ECHO_KEEP = 60;

/**
 * A value as written, shortened past 60 characters.
 *
 * @example
 * shorten('A'.repeat(10_240)); // 'AAAA…A… (10240 characters)' (60 A's)
 */
export function shorten(text: string): string {
  if (text.length <= ECHO_KEEP) return text;
  return `${text.slice(0, ECHO_KEEP)}… (${text.length} characters)`;
}

/**
 * A value in double quotes (JSON escapes), shortened past 60 characters, the length
 * outside the quotes.
 *
 * @example
 * quote('5y'); // '"5y"'
 * quote('A'.repeat(10_240)); // '"AAAA…A…" (10240 characters)'
 */
export function quote(text: string): string {
  if (text.length <= ECHO_KEEP) return JSON.stringify(text);
  return `${JSON.stringify(`${text.slice(0, ECHO_KEEP)}…`)} (${text.length} characters)`;
}

/** Runs longer than this in a whole message are someone's input echoed by another layer. */
const RUN = /[^\s"'`]{200,}/g;

/**
 * The safety net for messages sluice does not word itself (Node's argument parser, the
 * file system): every run of 200 or more characters without a space is shortened.
 *
 * @example
 * shortenRuns(`Unknown option '--${'x'.repeat(10_000)}'`); // "Unknown option '--xxx…x… (10002 characters)'"
 */
export function shortenRuns(message: string): string {
  return message.replace(RUN, shorten);
}
