/**
 * The scheduler: pure estimates, priorities, conflicts and admission; the event-driven driver that runs tasks through
 * injected ports; and the simulations the benchmark uses to measure schedule quality.
 */
export * from './types';
export * from './estimate';
export * from './priority';
export * from './conflicts';
export * from './admission';
export * from './driver';
export * from './simulate';
