/**
 * `sluice check [FILE]`: validates a policy file offline and prints its effective
 * limits. A file with mistakes throws the parser's error, which lists every mistake
 * with its line (printed by main.ts), and the exit status is 2.
 */
import { SluiceError } from '../core/errors.ts';
import { withServerOverrides } from '../core/policy/override.ts';
import { loadPolicy } from '../policy-file.ts';
import { describePolicy } from '../words/describe-policy.ts';
import { parseCli } from './common.ts';
import type { CliIo } from './io.ts';

const HELP = `usage: sluice check [FILE] [--config FILE] [--data DIR]

Validates a policy file and prints the limits it sets. Every mistake is listed
with its line; the exit status is 0 for a valid file and 2 otherwise.
Without a file, prints the built-in default policy.
`;

/** Runs `sluice check`; returns the exit status. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCli(args, {});
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 1) {
    throw usage(`expected one policy file, got ${positionals.length}: ${positionals.join(' ')}`);
  }
  const [file] = positionals;
  if (file !== undefined && values.config !== undefined && file !== values.config) {
    throw usage(`two policy files given (${file} and --config ${values.config}): give one`);
  }
  const path = file ?? values.config;
  // The environment comes from io (not process.env) so the command runs in-process in tests.
  const loaded = loadPolicy(path, io.env);
  const policy =
    values.data === undefined ? loaded : withServerOverrides(loaded, { dataDir: values.data });
  const verdict =
    path === undefined
      ? 'No policy file given: this is the built-in default policy.'
      : `${policy.source}: valid, no mistakes found.`;
  io.stdout.write(`${verdict}\n\n${describePolicy(policy)}`);
  return 0;
}

function usage(message: string): SluiceError {
  return new SluiceError('SLUICE_ERR_CLI_USAGE', `check: ${message}`, { exitCode: 2 });
}
