/**
 * nx-vtm: run a Virtual Task Manifest of coding-agent tasks as an Nx task graph.
 * The package entry point is the Nx plugin itself (so `"plugin": "nx-vtm"` works); the manifest API is exported for
 * tools that want to validate or inspect manifests.
 */
export { createNodes, createNodesV2, createDependencies, preTasksExecution, postTasksExecution } from './src/plugins/plugin';
export * from './src/manifest';
export { buildGraph, sliceProjectName, phaseProjectName } from './src/graph/build-graph';
export { pluginOptionsSchema, type PluginOptions, type PluginOptionsInput } from './src/config/plugin-options';
