/** Stage policies for fleet tests on the lab: quick retries and short heartbeat time-outs, seconds per backup. */
import { DEFAULT_POLICIES, type StagePolicies } from '../../src/shared/policies';

export function quickPolicies(): StagePolicies {
  const out = {} as StagePolicies;
  for (const [k, p] of Object.entries(DEFAULT_POLICIES) as [keyof StagePolicies, StagePolicies['write']][]) {
    out[k] = { ...p, ...(p.heartbeatTimeout ? { heartbeatTimeout: '10s' } : {}), initialInterval: '200ms', maximumInterval: '1s' };
  }
  return out;
}
