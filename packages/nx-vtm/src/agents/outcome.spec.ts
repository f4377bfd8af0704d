import { extractAgentReport, findLastJsonObject, firstLine, outcomeFromReport, parseAgentReport, parseReportNotes } from './outcome';

const report = {
  task_id: 'T1',
  status: 'completed',
  acs_completed: ['AC1', 'AC2'],
  acs_remaining: [],
  files_modified: ['src/a.ts'],
  test_results: { total: 3, passing: 3, failing: 0 },
  blockers: [],
  duration_minutes: 4,
};

describe('findLastJsonObject', () => {
  it('parses a message that is only the JSON', () => {
    expect(findLastJsonObject(JSON.stringify(report))).toEqual(report);
  });

  it('takes the last ```json fence when the agent wrapped its answer', () => {
    const text = `Plan:\n\`\`\`json\n{"status":"partial"}\n\`\`\`\nFinal:\n\`\`\`json\n${JSON.stringify(report, null, 2)}\n\`\`\`\nThanks!`;
    expect(findLastJsonObject(text)).toEqual(report);
  });

  it('finds a bare object after prose, skipping nested objects and braces in strings', () => {
    const tricky = { ...report, blockers: ['a "}" inside a string {'] };
    const text = `I changed {x} in the code. Result: ${JSON.stringify(tricky)} -- done`;
    expect(findLastJsonObject(text)).toEqual(tricky);
  });

  it('returns undefined when there is no JSON object', () => {
    expect(findLastJsonObject('all done, no json here { not json')).toBeUndefined();
    expect(findLastJsonObject('[1, 2, 3]')).toBeUndefined();
  });
});

describe('parseAgentReport', () => {
  it('keeps the seed-000 fields', () => {
    expect(parseAgentReport(report)).toEqual(report);
  });

  it('is lenient with wrong field types, but needs a status', () => {
    expect(parseAgentReport({ status: 'partial', acs_completed: 'AC1', blockers: [{ issue: 'no ADR' }], test_results: 'n/a' })).toEqual({
      status: 'partial',
      acs_completed: [],
      acs_remaining: [],
      files_modified: [],
      blockers: ['{"issue":"no ADR"}'],
    });
    expect(parseAgentReport({ acs_completed: ['AC1'] })).toBeUndefined();
    expect(parseAgentReport('completed')).toBeUndefined();
  });

  it('keeps the optional summary and notes (a string or a list), trimmed and capped, for the dependent tasks', () => {
    expect(parseAgentReport({ ...report, summary: '  Added the hash.  ', notes: 'Use hash() not hashSync().' })).toMatchObject({
      summary: 'Added the hash.',
      notes: ['Use hash() not hashSync().'],
    });
    expect(parseAgentReport({ ...report, summary: '', notes: ['a', 7, ' ', 'b'] })).toEqual({ ...report, notes: ['a', 'b'] });
    expect(parseAgentReport({ ...report, summary: { x: 1 }, notes: 3 })).toEqual(report);
    const huge = parseAgentReport({ ...report, summary: 's'.repeat(5000), notes: ['n'.repeat(6000), 'm'.repeat(6000), 'late'] });
    expect(huge?.summary).toHaveLength(2000);
    expect(huge?.notes?.map((n) => n.length)).toEqual([6000, 2000]);
    expect(parseReportNotes({ notes: 'x' })).toEqual({ notes: ['x'] });
    expect(parseReportNotes('text')).toEqual({ notes: [] });
  });

  it('extracts a report from free text', () => {
    expect(extractAgentReport(`Done.\n${JSON.stringify(report)}`)?.acs_completed).toEqual(['AC1', 'AC2']);
    expect(extractAgentReport('{"hello": "world"}')).toBeUndefined();
    expect(extractAgentReport(undefined)).toBeUndefined();
  });
});

describe('outcomeFromReport', () => {
  it('maps the reported status; no report still counts as completed (the checks decide)', () => {
    expect(outcomeFromReport(parseAgentReport(report), 'claude').status).toBe('completed');
    expect(outcomeFromReport(undefined, 'claude')).toMatchObject({ status: 'completed', reason: expect.stringContaining('without a return JSON') });
    const partial = outcomeFromReport(parseAgentReport({ status: 'partial', acs_completed: ['A'], acs_remaining: ['B'] }), 'codex');
    expect(partial).toMatchObject({ status: 'partial', reason: expect.stringContaining('remaining: B') });
    const blocked = outcomeFromReport(parseAgentReport({ status: 'blocked', blockers: ['ADR needed\nmore'] }), 'codex');
    expect(blocked).toMatchObject({ status: 'blocked', reason: expect.stringContaining('ADR needed;') });
    expect(outcomeFromReport(parseAgentReport({ status: 'error' }), 'x').status).toBe('failed');
  });

  it('firstLine trims and caps', () => {
    expect(firstLine('\n  hello  \nworld')).toBe('hello');
    expect(firstLine('abcdef', 4)).toBe('abc…');
  });
});
