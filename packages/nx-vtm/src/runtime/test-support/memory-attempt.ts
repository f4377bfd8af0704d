/** An in-memory claim for pipeline specs: records the stages, and can be lost at a chosen stage or at once. */
import type { AttemptProgress } from '../../state/task-record';
import type { AttemptPort, Stage } from '../pipeline';

export interface MemoryAttempt {
  port: AttemptPort;
  /** Stages advanced, in order. */
  stages: Stage[];
  /** The progress as the store would hold it (hand it to the next attempt to continue). */
  progress(): AttemptProgress | null;
  /** Lose the claim now. */
  lose(): void;
}

/**
 * `loseAt`: the claim is found lost when the pipeline tries to record this stage (as after a takeover while the stage
 * ran); its earlier stages stay recorded, like the store keeps them for the next owner.
 */
export function memoryAttempt({
  from = null,
  loseAt,
  occurrence = 1,
}: {
  from?: AttemptProgress | null;
  loseAt?: Stage;
  /** Lose at the n-th time `loseAt` is recorded (repair turns record the stages again). */
  occurrence?: number;
} = {}): MemoryAttempt {
  let progress = from;
  let held = true;
  let seen = 0;
  const stages: Stage[] = [];
  const port: AttemptPort = {
    progress: () => progress,
    advance: (stage, data) => {
      if (stage === loseAt && ++seen === occurrence) held = false;
      if (!held) return false;
      progress = { stage, fence: 1, attempt: 1, taskHash: null, at: Date.now(), data: { ...(progress?.data ?? {}), ...data } };
      stages.push(stage);
      return true;
    },
    holds: () => held,
  };
  return { port, stages, progress: () => progress, lose: () => (held = false) };
}
