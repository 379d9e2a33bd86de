/**
 * A record store that answers every call with a promise, as a store across the network
 * (Redis) does, and carries the call out only on a later turn of the event loop: code
 * that forgets to await a write returns before the write has happened, and code that
 * forgets to await a read gets a promise instead of a record. Tests read the wrapped
 * store directly (synchronously) to see what had happened when the code returned.
 *
 * @example
 * const inner = new MemoryRecordStore();
 * const store = asyncRecordStore(inner);
 * await changeKeyStatus({ store, now }, change);
 * inner.listAudit(); // what was written before changeKeyStatus returned
 */
import type { RecordStore } from '../../src/store/types.ts';

type Promised<S> = {
  [M in keyof S]: S[M] extends (...args: infer A) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : S[M];
};

export function asyncRecordStore(inner: RecordStore): Promised<RecordStore> {
  const later = () => new Promise<void>((resolve) => setImmediate(resolve));
  return new Proxy(inner, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        await later();
        return value.apply(target, args);
      };
    },
  }) as unknown as Promised<RecordStore>;
}
