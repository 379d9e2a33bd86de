/** Compiles one entry of `routes`, checking its name is unique and its dataset fits. */
import { type Context, type Doc, list, rate, read, section } from './compile-context.ts';
import { KINDS, ROUTE_CLASSES } from './schema.ts';
import type { RoutePolicy } from './types.ts';

export function compileRoute(r: Doc, i: number, ctx: Context): RoutePolicy {
  const path = ['routes', i];
  const name = read(KINDS.name, r.name);
  const routes = list(ctx.user.routes);
  const first = routes.findIndex((other) => section(other).name === r.name);
  if (name !== undefined && first >= 0 && first < i) {
    ctx.problems.add([...path, 'name'], `route name "${name}" is already used by routes[${first}]`);
  }
  const params = read(KINDS.routePath, r.path);
  const cls = r.class === undefined ? 'public' : r.class;
  let dataset = name;
  if (r.dataset !== undefined) {
    dataset = read(KINDS.dataset, r.dataset);
    if (cls !== 'bulk' && (ROUTE_CLASSES as readonly unknown[]).includes(cls)) {
      ctx.problems.add(
        [...path, 'dataset'],
        `dataset applies only to bulk routes; this route's class is ${JSON.stringify(cls)}`,
      );
    } else if (cls === 'bulk' && dataset?.startsWith(':') && params !== undefined) {
      if (!params.includes(dataset.slice(1))) {
        const has = params.length === 0 ? 'none' : params.map((p) => `:${p}`).join(', ');
        ctx.problems.add(
          [...path, 'dataset'],
          `"${dataset}" is not a segment of the path ${r.path} (its named segments: ${has})`,
        );
      }
    }
  }
  return {
    name,
    methods: r.method === undefined ? [] : read(KINDS.methods, r.method),
    path: r.path,
    query: Object.entries(section(r.query)).map(([param, v]) => ({
      param,
      present: v === 'present',
    })),
    cost: r.cost === undefined ? 1 : r.cost,
    class: cls,
    dataset,
    rate: r.rate === undefined ? undefined : rate(r.rate),
    ...(r.mode === undefined ? {} : { mode: r.mode }),
  } as unknown as RoutePolicy;
}
