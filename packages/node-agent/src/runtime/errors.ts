// Errors the pod worker turns into container waiting reasons and events.

/** A reason kubelet reports in ContainerStateWaiting (CreateContainerConfigError, ErrImagePull, …). */
export class ContainerStartError extends Error {
  override readonly name = 'ContainerStartError';
  constructor(
    /** The waiting reason, which is also this error's code. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A volume that cannot be set up (missing config map or secret, bad hostPath). */
export class VolumeSetupError extends Error {
  override readonly name = 'VolumeSetupError';
  readonly code = 'FailedMount';
  constructor(
    readonly volume: string,
    message: string,
  ) {
    super(message);
  }
}
