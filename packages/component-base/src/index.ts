// @mkube/component-base: what every mkube component is built on (upstream's component-base).
export { CodedError, FlagError, errorCode, hasCode } from './errors.js';
export { FakeClock, sleepOn, systemClock, type Clock, type TimerHandle } from './clock.js';
export { createLogger, logLevelFromFlags, silentLogger, LOG_LEVELS, type Logger, type LoggerOptions, type LogLevel } from './logger.js';
export { parseGoDuration, formatGoDuration } from './duration.js';
export { formatUsage, parseFlags, type FlagDef, type FlagDefs, type FlagType, type FlagValues, type ParsedFlags } from './flags.js';
export { componentFlagDefs, parseComponentFlags, requireKubeconfig, type ComponentFlagOptions, type ComponentFlags, type ComponentSettings } from './component_flags.js';
export { JITTER_FACTOR, LEADER_ELECTION_DEFAULTS, leaderElectionFlags, validateLeaderElection, type LeaderElectionConfig, type LeaderElectionOptions } from './leader_election.js';
export { asyncCheck, HEALTH_ENDPOINTS, HealthChecks, pingCheck, staticCheck, type HealthCheck, type HealthEndpoint, type HealthResult } from './health.js';
export { ComponentServer, type ComponentServerOptions } from './server.js';
export { freePort } from './net.js';
export { seededRandom } from './random.js';
export { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
