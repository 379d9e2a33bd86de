/** SluiceError and notFound (core/errors.ts): what a caller reads off an error. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EXIT_NOT_FOUND, isSluiceError, notFound, SluiceError } from '../../src/core/errors.ts';

test('a SluiceError carries its code, message, problems and exit status 1 by default', () => {
  const e = new SluiceError('SLUICE_ERR_CLI_USAGE', '--listen must be HOST:PORT');
  assert.equal(e.name, 'SluiceError');
  assert.equal(e.code, 'SLUICE_ERR_CLI_USAGE');
  assert.equal(e.message, '--listen must be HOST:PORT');
  assert.deepEqual(e.problems, []);
  assert.ok(Object.isFrozen(e.problems));
  assert.equal(e.exitCode, 1);
  assert.equal(isSluiceError(e), true);
  assert.equal(isSluiceError(new Error('x')), false);
});

test('a cause is kept when given, and no cause property is made when not', () => {
  const cause = new Error('disk full');
  const withCause = new SluiceError('SLUICE_ERR_CLI_USAGE', 'could not write', { cause });
  assert.equal(withCause.cause, cause);
  assert.equal(Object.hasOwn(withCause, 'cause'), true);
  const without = new SluiceError('SLUICE_ERR_CLI_USAGE', 'x', { exitCode: 2 });
  assert.equal(Object.hasOwn(without, 'cause'), false);
  assert.equal(without.exitCode, 2);
  const explicitUndefined = new SluiceError('SLUICE_ERR_CLI_USAGE', 'x', { cause: undefined });
  assert.equal(Object.hasOwn(explicitUndefined, 'cause'), false);
});

test('notFound is SLUICE_ERR_NOT_FOUND with exit status 3 and the message given', () => {
  const e = notFound('no incident RL-7KQ4-M9XT');
  assert.ok(e instanceof SluiceError);
  assert.equal(e.code, 'SLUICE_ERR_NOT_FOUND');
  assert.equal(e.message, 'no incident RL-7KQ4-M9XT');
  assert.equal(e.exitCode, EXIT_NOT_FOUND);
  assert.equal(EXIT_NOT_FOUND, 3);
  assert.deepEqual(e.problems, []);
});
