/**
 * The example manifest written by `nx g nx-vtm:init` when a workspace has none: small, valid, and showing each
 * feature once (dependencies, a slice, a High-risk task, file scopes, verification files).
 */
export function buildExampleManifest(schemaPath: string): Record<string, unknown> {
  const base = { related_specs: [], related_adrs: [], related_guides: [], conflicts_with: [], parallel: true, provisional: false, gap_codes: [] };
  return {
    $schema: schemaPath,
    status: 'OK',
    tasks: [
      {
        ...base,
        task_id: 'EXAMPLE_GREETING--T01',
        capability_id: 'EXAMPLE_GREETING',
        phase: 'Phase 1',
        slice: 'Slice 1.1',
        title: 'Add a greeting module',
        description: 'Create src/greeting.js exporting greet(name) that returns "Hello, <name>!".',
        acceptance_criteria: [{ id: 'EXAMPLE_GREETING-AC01', text: 'greet("Ada") returns "Hello, Ada!"' }],
        risk: 'Low',
        est: { size: 'S' },
        depends_on_tasks: [],
        test_verification: ['test/greeting.test.js'],
        file_scope: ['src/greeting.js', 'test/greeting.test.js'],
      },
      {
        ...base,
        task_id: 'EXAMPLE_FAREWELL--T01',
        capability_id: 'EXAMPLE_FAREWELL',
        phase: 'Phase 1',
        slice: 'Slice 1.1',
        title: 'Add a farewell function using the greeting module',
        description: 'Create src/farewell.js exporting farewell(name), reusing the formatting of greet.',
        acceptance_criteria: [{ id: 'EXAMPLE_FAREWELL-AC01', text: 'farewell("Ada") returns "Goodbye, Ada!"' }],
        risk: 'High',
        est: { size: 'S' },
        depends_on_tasks: ['EXAMPLE_GREETING--T01'],
        test_verification: ['test/farewell.test.js'],
        file_scope: ['src/farewell.js', 'test/farewell.test.js'],
      },
    ],
  };
}
