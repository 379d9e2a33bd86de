/**
 * A store that answers every call with a promise, settled a microtask later: the memory
 * stores wrapped this way stand for a store across the network (Redis), so the contract
 * suites and the gateway's users of a store prove they are right for one.
 *
 * @example
 * runRecordStoreContract('memory, answering later', () => answeringLater(new MemoryRecordStore()));
 */
export function answeringLater<T extends object>(store: T): T {
  return new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        Promise.resolve().then(() => (value as (...a: unknown[]) => unknown).apply(target, args));
    },
  });
}
