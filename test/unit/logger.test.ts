/**
 * What the gateway's log lines never hold (gateway/logger.ts): a request's
 * `authorization` or `x-api-key` header, or a `secret` field, at the top or one level
 * down, should one ever be logged. The fields beside them are kept as they are.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/gateway/logger.ts';

/** A logger writing its JSON lines into an array. */
function capture(level?: string) {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level,
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  return { lines, logger };
}

test('credentials and secrets are redacted from a log line; the rest of it is kept', () => {
  const { lines, logger } = capture();
  logger.warn(
    {
      event: 'test',
      req: {
        method: 'GET',
        headers: {
          authorization: 'Bearer sk_live_secret_value',
          'x-api-key': 'sk_live_other_secret',
          'user-agent': 'curl/8',
        },
      },
      key: { id: 'k_123', secret: 'sk_live_nested' },
      secret: 'whsec_top',
    },
    'a line with secrets',
  );
  assert.equal(lines.length, 1);
  const { time: _t, ...line } = lines[0];
  assert.deepEqual(line, {
    level: 40,
    name: 'sluice',
    event: 'test',
    req: {
      method: 'GET',
      headers: {
        authorization: '[Redacted]',
        'x-api-key': '[Redacted]',
        'user-agent': 'curl/8',
      },
    },
    key: { id: 'k_123', secret: '[Redacted]' },
    secret: '[Redacted]',
    msg: 'a line with secrets',
  });
  assert.doesNotMatch(JSON.stringify(lines), /sk_live|whsec/);
});

test("the level is info unless given: debug lines are dropped, and 'silent' drops every line", () => {
  const info = capture();
  info.logger.debug('not shown');
  info.logger.info('shown');
  assert.deepEqual(
    info.lines.map((l) => l.msg),
    ['shown'],
  );
  const silent = capture('silent');
  silent.logger.error('not shown either');
  assert.deepEqual(silent.lines, []);
});
