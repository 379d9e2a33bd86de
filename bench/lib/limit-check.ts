/**
 * "Does this gateway really limit?": with a low limit, one key must get 429 after a
 * few requests while another key is still served. A gateway that fails this gives no
 * figure, since a gateway that limits nothing is trivially fast.
 *
 * @example
 *   const v = await checkLimits(url, 'x-api-key', keys[0], keys[1]);
 *   if (!v.ok) console.log(v.detail);
 */

export interface LimitVerdict {
  readonly ok: boolean;
  /** Requests of the first key answered 2xx before its first 429. */
  readonly allowedBefore429: number;
  /** Status of the other key's request once the first was limited. */
  readonly otherKeyStatus: number;
  /** One line for people: what was seen. */
  readonly detail: string;
}

/** Statuses of `count` sequential requests (bounded: 5 s each). */
async function statuses(url: string, header: string, key: string, count: number) {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${url}/api/items/${i + 1}`, {
      headers: { [header]: key },
      signal: AbortSignal.timeout(5000),
    });
    await res.arrayBuffer();
    out.push(res.status);
  }
  return out;
}

/**
 * Sends `attempts` requests with `keyA`, then one with `keyB`. Passes when keyA is
 * served at first, then answered 429 within `maxAllowed` requests, and keyB gets 2xx.
 */
export async function checkLimits(
  url: string,
  header: string,
  keyA: string,
  keyB: string,
  opts: { attempts?: number; maxAllowed?: number } = {},
): Promise<LimitVerdict> {
  const attempts = opts.attempts ?? 30;
  const maxAllowed = opts.maxAllowed ?? 15;
  const seen = await statuses(url, header, keyA, attempts);
  const first429 = seen.indexOf(429);
  const allowedBefore429 = (first429 === -1 ? seen : seen.slice(0, first429)).filter(
    (s) => s >= 200 && s < 300,
  ).length;
  const [otherKeyStatus] = await statuses(url, header, keyB, 1);
  const summary = `key A: ${allowedBefore429} served, then ${first429 === -1 ? 'no 429' : '429'}; key B: ${otherKeyStatus}`;
  const problems: string[] = [];
  if (!(seen[0] >= 200 && seen[0] < 300)) problems.push(`key A's first request got ${seen[0]}`);
  if (first429 === -1) problems.push(`no 429 in ${attempts} requests`);
  else if (allowedBefore429 > maxAllowed) problems.push(`429 only after ${allowedBefore429}`);
  if (!(otherKeyStatus >= 200 && otherKeyStatus < 300)) problems.push('key B was not served');
  return {
    ok: problems.length === 0,
    allowedBefore429,
    otherKeyStatus,
    detail: problems.length === 0 ? summary : `${summary} (${problems.join('; ')})`,
  };
}
