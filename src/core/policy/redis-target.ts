/**
 * The Redis a policy's `store` names, as it may be printed (`sluice check`, error
 * messages): a password in a URL is replaced by `***`, a Cluster is its seed nodes.
 *
 * @example
 * redisTarget({ url: 'redis://:s3cret@10.0.0.5:6379' }); // 'Redis redis://:***@10.0.0.5:6379'
 * redisTarget({ cluster: [{ host: '10.0.0.5', port: 7000 }] }); // 'Redis cluster 10.0.0.5:7000'
 */
import type { RedisStoreSettings } from './types.ts';

export function redisTarget(redis: RedisStoreSettings['redis']): string {
  if ('url' in redis) return `Redis ${withoutPassword(redis.url)}`;
  return `Redis cluster ${redis.cluster.map((n) => `${n.host}:${n.port}`).join(',')}`;
}

/** The URL with its password replaced by `***` (as written when it has none or does not parse). */
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
