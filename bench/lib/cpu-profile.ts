/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and says where a gateway's CPU time
 * goes: self time by part (sluice's own code, undici, node:http, streams and sockets, the
 * native calls they make, GC) and the functions with the most self time.
 *
 * @example
 *   const split = splitProfile(JSON.parse(readFileSync('CPU.x.cpuprofile', 'utf8')));
 *   split.parts; // [{ part: 'node:http (server)', ms: 1234, share: 0.21 }, …]
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface PartTime {
  part: string;
  ms: number;
  /** Of the busy time (idle excluded). */
  share: number;
}

export interface ProfileSplit {
  busyMs: number;
  idleMs: number;
  parts: PartTime[];
  top: { fn: string; part: string; ms: number; share: number }[];
}

/** Which part of the process a frame belongs to; native frames take their caller's part. */
export function partOf(frame: CallFrame): string | undefined {
  const { url, functionName } = frame;
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return 'V8 and native, outside JS';
  if (url === '') return undefined; // a native call: counted with its JS caller
  if (url.includes('/node_modules/undici/')) return 'undici (upstream client)';
  if (url.includes('/node_modules/')) return 'other libraries';
  if (url.includes('/src/')) return 'sluice (src/)';
  if (url.includes('/bench/')) return 'bench peer script';
  if (/^node:(internal\/)?_?http|^node:internal\/http/.test(url)) return 'node:http (server)';
  if (/^node:(internal\/)?(net|stream|streams|internal\/streams)|^node:internal\/stream/.test(url))
    return 'streams and sockets';
  if (url.startsWith('node:')) return 'other Node internals';
  return 'other';
}

export function splitProfile(profile: CpuProfile, topN = 15): ProfileSplit {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const partCache = new Map<number, string>();
  const resolvePart = (id: number): string => {
    const cached = partCache.get(id);
    if (cached !== undefined) return cached;
    const node = byId.get(id);
    let part = node === undefined ? 'other' : partOf(node.callFrame);
    if (part === undefined) {
      const up = parent.get(id);
      part = up === undefined ? 'native (no JS caller)' : resolvePart(up);
    }
    partCache.set(id, part);
    return part;
  };
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    // A sample's time is the delta to the next sample.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt));
  }
  const partUs = new Map<string, number>();
  const fnUs = new Map<string, { part: string; us: number }>();
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const part = resolvePart(id);
    if (part === 'idle') {
      idleUs += us;
      continue;
    }
    partUs.set(part, (partUs.get(part) ?? 0) + us);
    const f = byId.get(id)?.callFrame;
    const name = f
      ? `${f.functionName || '(anonymous)'} ${f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '(native)'}`
      : '?';
    const entry = fnUs.get(name) ?? { part, us: 0 };
    entry.us += us;
    fnUs.set(name, entry);
  }
  const busyUs = [...partUs.values()].reduce((a, b) => a + b, 0);
  const share = (us: number) => (busyUs > 0 ? us / busyUs : 0);
  return {
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    parts: [...partUs]
      .map(([part, us]) => ({ part, ms: us / 1000, share: share(us) }))
      .sort((a, b) => b.ms - a.ms),
    top: [...fnUs]
      .map(([fn, e]) => ({ fn, part: e.part, ms: e.us / 1000, share: share(e.us) }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, topN),
  };
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  const src = url.lastIndexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  const bench = url.lastIndexOf('/bench/');
  if (bench >= 0) return url.slice(bench + 1);
  return url;
}

/** The split as a Markdown table of parts and one of the top functions. */
export function profileMarkdown(label: string, split: ProfileSplit): string {
  const pct = (s: number) => `${(s * 100).toFixed(1)} %`;
  const lines = [
    `**${label}**: ${(split.busyMs / 1000).toFixed(1)} s busy, ${(split.idleMs / 1000).toFixed(1)} s idle`,
    '',
    '| part | self time | share of busy |',
    '| --- | --- | --- |',
    ...split.parts.map((p) => `| ${p.part} | ${Math.round(p.ms)} ms | ${pct(p.share)} |`),
    '',
    '| function (self time, native calls under their JS caller) | part | share |',
    '| --- | --- | --- |',
    ...split.top.map((t) => `| \`${t.fn}\` | ${t.part} | ${pct(t.share)} |`),
  ];
  return lines.join('\n');
}
