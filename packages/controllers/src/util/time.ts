/** Injected time: controllers never read the wall clock directly (the one Clock of @mkube/component-base; FakeClock for tests). */
export { FakeClock, systemClock, type Clock } from '@mkube/component-base';
