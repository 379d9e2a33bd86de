import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  parseSignatureHeader,
  signatureHeader,
  signWebhook,
  verifyWebhook,
} from '../../src/notify/webhook-signature.ts';

const SECRET = 'whsec_test_2f8a1c';
const T = 1767225600; // 2026-01-01T00:00:00Z

// Computed independently with OpenSSL, e.g.
//   printf '%s' '1767225600.{"type":"revocation","reference":"RL-7KQ4-M9XT"}' \
//     | openssl dgst -sha256 -hmac 'whsec_test_2f8a1c'
const VECTORS = [
  {
    secret: SECRET,
    t: T,
    body: '{"type":"revocation","reference":"RL-7KQ4-M9XT"}',
    hex: '5c5d2508a376021d37e8aca49ca32c7a4d661c4985b71a68a6d9eb9557701000',
  },
  {
    secret: 'k',
    t: 1700000000,
    body: '',
    hex: '5c2999a43333a6877f49c8003f235c4f6de40f85b1b7414b70bd470a8db53d97',
  },
  {
    secret: SECRET,
    t: T,
    body: '{"detail":"café ☕"}', // signed as UTF-8 bytes
    hex: '5d62367f7dc44a1b9a7c51fb749d21d49dcfad1b5064103e7041cc0679c281a4',
  },
];

test('signatures match HMAC-SHA256 vectors computed with openssl', () => {
  for (const v of VECTORS) {
    assert.equal(signWebhook(v.secret, v.t, v.body), `v1=${v.hex}`);
    assert.equal(signWebhook(v.secret, v.t, Buffer.from(v.body)), `v1=${v.hex}`);
    assert.equal(signatureHeader(v.secret, v.t, v.body), `t=${v.t},v1=${v.hex}`);
  }
});

test('a valid signature verifies, within the tolerance either side of now', () => {
  const { body } = VECTORS[0];
  const header = signatureHeader(SECRET, T, body);
  assert.equal(verifyWebhook(SECRET, header, body, T), true);
  assert.equal(verifyWebhook(SECRET, header, body, T + 300), true);
  assert.equal(verifyWebhook(SECRET, header, body, T - 300), true);
  assert.equal(verifyWebhook(SECRET, header, body, T + 301), false);
  assert.equal(verifyWebhook(SECRET, header, body, T - 301), false);
  assert.equal(verifyWebhook(SECRET, header, body, T + 30, 10), false);
});

test('a wrong secret, a changed body or a changed timestamp does not verify', () => {
  const { body } = VECTORS[0];
  const header = signatureHeader(SECRET, T, body);
  assert.equal(verifyWebhook('whsec_other', header, body, T), false);
  assert.equal(verifyWebhook(SECRET, header, body.replace('RL-7KQ4', 'RL-7KQ5'), T), false);
  const shifted = header.replace(`t=${T}`, `t=${T + 1}`);
  assert.equal(verifyWebhook(SECRET, shifted, body, T), false);
});

test('missing or malformed headers do not verify, and never throw', () => {
  const { body, hex } = VECTORS[0];
  for (const header of [
    undefined,
    '',
    'garbage',
    `v1=${hex}`, // no timestamp
    `t=${T}`, // no signature
    `t=${T},v1=${hex.slice(2)}`, // too short
    `t=${T},v1=${hex.toUpperCase()}`,
    `t=soon,v1=${hex}`,
  ]) {
    assert.equal(verifyWebhook(SECRET, header, body, T), false, String(header));
  }
});

test('several signatures, several header values and rotated secrets are accepted', () => {
  const { body } = VECTORS[0];
  const good = signWebhook(SECRET, T, body);
  const other = signWebhook('whsec_old', T, body);
  assert.equal(verifyWebhook(SECRET, `t=${T},${other},${good}`, body, T), true);
  assert.equal(verifyWebhook(SECRET, [`t=${T}`, good], body, T), true);
  assert.equal(verifyWebhook(['whsec_new', SECRET], `t=${T},${good}`, body, T), true);
  assert.equal(verifyWebhook(['whsec_new'], `t=${T},${good}`, body, T), false);
  // Unknown schemes are ignored rather than rejected.
  assert.deepEqual(parseSignatureHeader(`t=${T}, v2=abc ,${good}`), {
    timestampSec: T,
    signatures: [good.slice(3)],
  });
});
