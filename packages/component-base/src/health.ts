// /livez, /readyz and /healthz as Kubernetes components serve them (moved here from the API
// server so every component runs the same logic): named checks, `?verbose` lists them,
// `?exclude=NAME` skips one, `/readyz/NAME` runs one; 200 "ok" when all pass, otherwise 500 with
// the list ("[-]etcd failed: reason withheld") and "<endpoint> check failed".

export interface HealthCheck {
  name: string;
  /** Resolves with undefined when healthy, or the reason it is not (logged, withheld from the response). */
  check(): Promise<string | undefined>;
}

export interface HealthResult {
  status: number;
  body: string;
  /** Failed checks with their reasons (for the log). */
  failures: Array<{ name: string; reason: string }>;
}

export type HealthEndpoint = 'livez' | 'readyz' | 'healthz';

export const HEALTH_ENDPOINTS: readonly HealthEndpoint[] = ['livez', 'readyz', 'healthz'];

/** A check whose reason comes from a synchronous function (undefined: healthy). */
export function staticCheck(name: string, reason: () => string | undefined): HealthCheck {
  return { name, check: async () => reason() };
}

/** The check every component has: it answers. */
export const pingCheck: HealthCheck = staticCheck('ping', () => undefined);

/** A check that runs `fn` and reports its error message as the reason. */
export function asyncCheck(name: string, fn: () => Promise<unknown>): HealthCheck {
  return {
    name,
    check: () => fn().then(() => undefined, (err: unknown) => (err instanceof Error ? err.message : String(err))),
  };
}

export class HealthChecks {
  constructor(private readonly byEndpoint: Record<HealthEndpoint, HealthCheck[]>) {}

  /** The same checks under all three endpoints. */
  static same(checks: HealthCheck[]): HealthChecks {
    return new HealthChecks({ livez: checks, readyz: checks, healthz: checks });
  }

  /** Runs the checks of `/endpoint[/name]` with the request's query; undefined when there is no check `name`. */
  async run(endpoint: HealthEndpoint, single: string | undefined, query: URLSearchParams): Promise<HealthResult | undefined> {
    const checks = this.byEndpoint[endpoint];
    if (single !== undefined) {
      const c = checks.find((x) => x.name === single);
      if (!c) return undefined;
      const reason = await c.check();
      if (reason === undefined) return { status: 200, body: 'ok', failures: [] };
      return { status: 500, body: `internal server error: ${c.name} check failed`, failures: [{ name: c.name, reason }] };
    }
    const excluded = new Set(query.getAll('exclude'));
    const lines: string[] = [];
    const failures: HealthResult['failures'] = [];
    const results = await Promise.all(checks.map(async (c) => (excluded.has(c.name) ? 'excluded' : await c.check())));
    checks.forEach((c, i) => {
      const r = results[i];
      if (r === 'excluded') lines.push(`[+]${c.name} excluded: ok`);
      else if (r === undefined) lines.push(`[+]${c.name} ok`);
      else {
        lines.push(`[-]${c.name} failed: reason withheld`);
        failures.push({ name: c.name, reason: r });
      }
    });
    if (failures.length > 0) return { status: 500, body: `${lines.join('\n')}\n${endpoint} check failed\n`, failures };
    const verbose = query.has('verbose') && query.get('verbose') !== 'false';
    return { status: 200, body: verbose ? `${lines.join('\n')}\n${endpoint} check passed\n` : 'ok', failures };
  }
}
