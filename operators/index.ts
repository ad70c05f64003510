/**
 * The stream's operators, in the order a scene flows through them:
 * readScene -> toPatches -> superResolve -> stitch -> writeCog -> toStacItem -> publish,
 * with skipExisting (idempotency) and catchScene (a failure becomes an outcome, never ends the stream).
 */
export { catchScene, failedOutcome } from './catch-scene.js';
export { JobResources, StageError, stageOperator, type SceneJob, type StageOptions, type StageProgress } from './job.js';
export { doneOutcome, publish, type PublishedJob } from './publish.js';
export { readScene, type OutputPlan, type ReadJob } from './read-scene.js';
export { skipExisting } from './skip-existing.js';
export { stitch, type StitchedJob, type Strip } from './stitch.js';
export { perSceneSessions, SessionPool, superResolve, type SessionProvider, type SuperResolvedJob } from './super-resolve.js';
export { toPatches, type PatchGrid, type PatchJob } from './to-patches.js';
export { toStacItem, type ItemJob } from './to-stac-item.js';
export { writeCog, type CogJob } from './write-cog.js';
