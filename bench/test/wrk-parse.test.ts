import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWrk, parseWrkTime } from '../lib/wrk.ts';

const WITH_ERRORS = `Running 5s test @ http://127.0.0.1:41000/api/items/1
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.49ms    3.12ms  41.20ms   93.10%
    Req/Sec    16.13k     1.02k   17.90k    70.00%
  Latency Distribution
     50%    1.80ms
     75%    2.10ms
     90%    3.40ms
     99%   26.57ms
  80265 requests in 5.00s, 14.02MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 1234
Requests/sec:  16053.00
Transfer/sec:      2.80MB
`;

const CLEAN = `Running 10s test @ http://127.0.0.1:41000/api/items/1
  1 threads and 50 connections
  Latency Distribution
     50%  850.00us
     75%    1.02ms
     90%    1.30ms
     99%    1.20s
  417270 requests in 10.00s, 70.00MB read
Requests/sec:  41727.00
Transfer/sec:      7.00MB
`;

test('reads requests/s, p50, p99, non-2xx and socket errors from wrk --latency', () => {
  assert.deepEqual(parseWrk(WITH_ERRORS), {
    requests: 80265,
    durationSec: 5,
    rps: 16053,
    p50Ms: 1.8,
    p99Ms: 26.57,
    non2xx: 1234,
    socketErrors: 5,
  });
});

test('converts microseconds and seconds, and counts no errors when wrk prints none', () => {
  const r = parseWrk(CLEAN);
  assert.equal(r.p50Ms, 0.85);
  assert.equal(r.p99Ms, 1200);
  assert.equal(r.non2xx, 0);
  assert.equal(r.socketErrors, 0);
  assert.equal(r.durationSec, 10);
});

test('refuses output without a latency distribution (wrk run without --latency)', () => {
  const noLatency = CLEAN.replace(/ {2}Latency Distribution[\s\S]*?(?= {2}\d+ requests)/, '');
  assert.throws(() => parseWrk(noLatency), /50% latency/);
});

test('parseWrkTime rejects what is not a wrk time', () => {
  assert.equal(parseWrkTime('2.00m'), 120_000);
  assert.throws(() => parseWrkTime('12 ms'), /not a wrk time/);
});
