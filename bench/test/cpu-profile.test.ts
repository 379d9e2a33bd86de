import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CpuProfile, partOf, profileMarkdown, splitProfile } from '../lib/cpu-profile.ts';

const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0 });

// root → handle (src) → writev (native) ; root → (idle) ; root → onHeaders (undici) ; GC
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)', ''), children: [2, 4, 5, 6] },
    { id: 2, callFrame: frame('handle', 'file:///x/src/gateway/pipeline.ts'), children: [3] },
    { id: 3, callFrame: frame('writev', '') },
    { id: 4, callFrame: frame('(idle)', '') },
    { id: 5, callFrame: frame('onHeaders', 'file:///x/node_modules/undici/lib/api/api-stream.js') },
    { id: 6, callFrame: frame('(garbage collector)', '') },
  ],
  // Each sample's time is the next delta: 2→1000, 3→3000, 4→5000, 5→1000, 6→(last: 0)
  samples: [2, 3, 4, 5, 6, 6],
  timeDeltas: [0, 1000, 3000, 5000, 1000, 2000],
};

test('a native call counts for the part of its JS caller; idle is left out of busy time', () => {
  const split = splitProfile(profile);
  assert.equal(split.idleMs, 5);
  assert.equal(split.busyMs, 7);
  assert.deepEqual(
    split.parts.map((p) => [p.part, p.ms]),
    [
      ['sluice (src/)', 4],
      ['GC', 2],
      ['undici (upstream client)', 1],
    ],
  );
  assert.equal(split.top[0].fn, 'writev (native)');
  assert.equal(split.top[0].part, 'sluice (src/)');
  assert.ok(Math.abs(split.top[0].share - 3 / 7) < 1e-9);
});

test('frames are sorted into parts by where their code lives', () => {
  assert.equal(partOf(frame('f', 'node:_http_server')), 'node:http (server)');
  assert.equal(partOf(frame('f', 'node:internal/streams/writable')), 'streams and sockets');
  assert.equal(partOf(frame('f', 'node:net')), 'streams and sockets');
  assert.equal(partOf(frame('f', 'node:events')), 'other Node internals');
  assert.equal(partOf(frame('f', 'file:///a/node_modules/pino/x.js')), 'other libraries');
  assert.equal(partOf(frame('writev', '')), undefined);
});

test('the Markdown has a row per part and per top function', () => {
  const md = profileMarkdown('gw', splitProfile(profile));
  assert.match(md, /\| sluice \(src\/\) \| 4 ms \| 57\.1 % \|/);
  assert.match(md, /\| `writev \(native\)` \| sluice \(src\/\) \| 42\.9 % \|/);
});
