/** The Nx plugin object: `"plugins": [{ "plugin": "nx-vtm", "options": { ... } }]` in nx.json. */
export { createNodes, createNodesV2, createDependencies, preTasksExecution, postTasksExecution } from './src/plugins/plugin';
