/**
 * The request headers a client may not send upstream (gateway/runtime.ts
 * `identityStrip`), through the real gateway (in-process, manual clock) in front of an
 * upstream on loopback that records what it got: sluice's identity headers (a keyless
 * client could otherwise name any account to the upstream), the forwarding headers
 * sluice writes itself, and the headers frameworks read as the real path or method.
 * The identity header names come from the policy, so a reload swaps what is stripped
 * and set along with the rest of the compiled runtime.
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, test } from 'node:test';
import { withServerOverrides } from '../../src/core/policy/override.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import { call } from '../helpers/http.ts';
import { type InProcessGateway, startInProcessGateway } from '../helpers/in-process-gateway.ts';

/** The headers of each request the upstream got (names lower-cased by node:http). */
const seen: IncomingHttpHeaders[] = [];
const upstream = createServer((req, res) => {
  seen.push(req.headers);
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('ok');
});
let upstreamUrl = '';
let gw: InProcessGateway | undefined;

before(async () => {
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterEach(async () => {
  await gw?.close();
  gw = undefined;
  seen.length = 0;
});
after(() => new Promise<void>((resolve) => upstream.close(() => resolve())));

/** Headers no client may pass on, with values a client could use to mislead the upstream. */
const NEVER_PASSED = {
  'x-forwarded-port': '8443',
  'x-forwarded-prefix': '/admin',
  'x-real-ip': '198.51.100.7',
  'x-original-url': '/api/reports',
  'x-rewrite-url': '/api/reports',
  'x-http-method-override': 'DELETE',
  'x-http-method': 'DELETE',
  'x-method-override': 'DELETE',
};

/** The upstream's view of the one request sent since the last call. */
function lastSeen(): IncomingHttpHeaders {
  assert.equal(seen.length, 1, 'the request reached the upstream');
  const headers = seen[0];
  seen.length = 0;
  return headers;
}

test("a keyless client's identity, path and method-override headers never reach the upstream; its own are kept", async () => {
  gw = await startInProcessGateway({ upstream: upstreamUrl });
  const answer = await gw.call('/api/companies', {
    headers: {
      'X-Sluice-Account': 'acme',
      'X-Sluice-Key-Id': 'k_forged',
      ...NEVER_PASSED,
      'x-custom': 'kept',
    },
  });
  assert.equal(answer.status, 200);
  const got = lastSeen();
  assert.equal(got['x-sluice-account'], undefined, 'no account named by the client');
  assert.equal(got['x-sluice-key-id'], undefined, 'no key id named by the client');
  for (const name of Object.keys(NEVER_PASSED)) {
    assert.equal(got[name], undefined, `${name} from the client must not reach the upstream`);
  }
  assert.equal(got['x-custom'], 'kept');
  // sluice's own forwarding headers, not the client's.
  assert.equal(got['x-forwarded-for'], '127.0.0.1');
  assert.equal(got['x-forwarded-proto'], 'http');
});

test("a client's X-Forwarded-Host never reaches the upstream, even when its own Host gives sluice none to write", async () => {
  gw = await startInProcessGateway({ upstream: upstreamUrl });
  const { port } = new URL(gw.url);
  // A Host that is no host name: sluice writes no X-Forwarded-Host of its own.
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1',
      port: Number(port),
      path: '/api/companies',
      headers: { host: 'not a host', 'x-forwarded-host': 'evil.example' },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 200);
  const got = lastSeen();
  assert.equal(got['x-forwarded-host'], undefined);
  assert.notEqual(got.host, 'evil.example');
});

test('a reload that renames the identity headers strips and sets the new names from its next request on', async () => {
  gw = await startInProcessGateway({ upstream: upstreamUrl });
  const { key, id } = gw.addKey('acme');
  const headers = { 'x-org': 'forged', 'x-org-key': 'forged' };

  await gw.call('/api/companies', { headers });
  const before = lastSeen();
  assert.equal(before['x-org'], 'forged', 'before the reload x-org is no header of sluice');

  const next = parsePolicyText(
    'server:\n  identityHeaders:\n    account: X-Org\n    key: X-Org-Key\n',
    'reloaded.yaml',
    {},
  );
  gw.app.setPolicy(withServerOverrides(next, { listen: '127.0.0.1:0', upstream: upstreamUrl }));

  await gw.call('/api/companies', { headers });
  const keyless = lastSeen();
  assert.equal(keyless['x-org'], undefined, 'a keyless client names no account');
  assert.equal(keyless['x-org-key'], undefined);

  await gw.call('/api/companies', { key, headers });
  const keyed = lastSeen();
  assert.equal(keyed['x-org'], 'acme', "sluice's own, under the new name");
  assert.equal(keyed['x-org-key'], id);
  assert.equal(keyed['x-sluice-account'], undefined, 'the old name is set no more');
});

test('identity header names written in any case in the policy are stripped in whatever case the client writes them', async () => {
  gw = await startInProcessGateway({
    upstream: upstreamUrl,
    policy: 'server:\n  identityHeaders:\n    account: X-Caller-ACCOUNT\n    key: x-Caller-Key\n',
  });
  const answer = await call(`${gw.url}/api/companies`, {
    headers: { 'x-caller-account': 'acme', 'X-CALLER-KEY': 'k_forged' },
  });
  assert.equal(answer.status, 200);
  const got = lastSeen();
  assert.equal(got['x-caller-account'], undefined);
  assert.equal(got['x-caller-key'], undefined);
});
