// Liveness, readiness and startup probes of one container instance, run on
// the injected clock; results change only after successThreshold successes
// or failureThreshold failures in a row, as kubelet's prober does.
import type { Clock, TimerHandle } from '../clock.js';
import type { Container, Probe } from '../api_types.js';
import { runHandler, type ExecRuntime, type HandlerTarget } from './handler.js';

export type ProbeKind = 'liveness' | 'readiness' | 'startup';
export type ProbeResult = 'success' | 'failure' | 'unknown';

export interface ProbeChange {
  kind: ProbeKind;
  containerId: string;
  containerName: string;
  result: ProbeResult;
  output: string;
}

class ProbeWorker {
  result: ProbeResult;
  private successes = 0;
  private failures = 0;
  private timer?: TimerHandle;
  private stopped = false;
  lastOutput = '';

  constructor(
    readonly kind: ProbeKind,
    private readonly probe: Probe,
    private readonly target: () => HandlerTarget,
    private readonly clock: Clock,
    private readonly cri: ExecRuntime,
    private readonly gate: () => boolean,
    private readonly onChange: (w: ProbeWorker) => void,
    private readonly onFailedRun: (w: ProbeWorker) => void,
  ) {
    this.result = kind === 'liveness' ? 'success' : kind === 'readiness' ? 'failure' : 'unknown';
    this.timer = clock.setTimeout(() => void this.tick(), (probe.initialDelaySeconds ?? 0) * 1000);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    if (this.gate()) {
      const timeout = this.probe.timeoutSeconds ?? 1;
      const res = await runHandler(this.probe, this.target(), timeout, this.cri);
      if (this.stopped) return;
      this.lastOutput = res.output;
      const successThreshold = this.probe.successThreshold ?? 1;
      const failureThreshold = this.probe.failureThreshold ?? 3;
      if (res.ok) {
        this.successes++;
        this.failures = 0;
        if (this.result !== 'success' && this.successes >= successThreshold) {
          this.result = 'success';
          this.onChange(this);
        }
      } else {
        this.failures++;
        this.successes = 0;
        this.onFailedRun(this);
        if (this.result !== 'failure' && this.failures >= failureThreshold) {
          this.result = 'failure';
          this.onChange(this);
        }
      }
      // A finished startup probe stops; a failed liveness probe waits for the restart.
      if (this.kind === 'startup' && this.result === 'success') return;
    }
    if (!this.stopped) this.timer = this.clock.setTimeout(() => void this.tick(), (this.probe.periodSeconds ?? 10) * 1000);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }
}

/** The probes of one running container instance. */
export class ContainerProbes {
  private readonly workers = new Map<ProbeKind, ProbeWorker>();

  constructor(
    readonly containerId: string,
    readonly container: Container,
    target: () => HandlerTarget,
    clock: Clock,
    cri: ExecRuntime,
    onChange: (c: ProbeChange) => void,
    /** Every failed run (kubelet records an Unhealthy event for each). */
    onFailedRun: (c: ProbeChange) => void = () => undefined,
  ) {
    const started = (): boolean => !this.workers.has('startup') || this.workers.get('startup')!.result === 'success';
    const add = (kind: ProbeKind, probe: Probe | undefined, gate: () => boolean): void => {
      if (!probe) return;
      this.workers.set(
        kind,
        new ProbeWorker(
          kind,
          probe,
          target,
          clock,
          cri,
          gate,
          (w) => onChange({ kind, containerId, containerName: container.name, result: w.result, output: w.lastOutput }),
          (w) => onFailedRun({ kind, containerId, containerName: container.name, result: 'failure', output: w.lastOutput }),
        ),
      );
    };
    add('startup', container.startupProbe, () => true);
    add('liveness', container.livenessProbe, started);
    add('readiness', container.readinessProbe, started);
  }

  result(kind: ProbeKind): ProbeResult | undefined {
    return this.workers.get(kind)?.result;
  }

  output(kind: ProbeKind): string {
    return this.workers.get(kind)?.lastOutput ?? '';
  }

  stop(): void {
    for (const w of this.workers.values()) w.stop();
  }
}
