export * from './schema';
export * from './problems';
export * from './paths';
export * from './hash';
export { parseManifestText, parseManifestValue } from './parse';
export { getManifestRuleProblems, getCrossManifestProblems, type PathProbe } from './rules';
export { readManifest, readManifests, createFsPathProbe, type LoadedManifest } from './read';
