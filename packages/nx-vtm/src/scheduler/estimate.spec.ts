import { buildEstimates, DEFAULT_UNKNOWN_MINUTES, getMedian, SIZE_MINUTES } from './estimate';

describe('buildEstimates', () => {
  it('prefers explicit minutes, then the median of history, then size', () => {
    const estimates = buildEstimates({
      tasks: [
        { task_id: 'EXPLICIT', est: { minutes: 7, size: 'XL' } },
        { task_id: 'MEASURED', est: { size: 'XL' } },
        { task_id: 'SIZED', est: { size: 'S' } },
      ],
      history: new Map([
        ['EXPLICIT', [100]],
        ['MEASURED', [40, 10, 20]],
      ]),
    });
    expect(estimates.get('EXPLICIT')).toBe(7);
    expect(estimates.get('MEASURED')).toBe(20);
    expect(estimates.get('SIZED')).toBe(SIZE_MINUTES.S);
  });

  it.each(Object.entries(SIZE_MINUTES))('size %s is %d minutes', (size, minutes) => {
    expect(buildEstimates({ tasks: [{ task_id: 'T', est: { size: size as 'M' } }] }).get('T')).toBe(minutes);
  });

  it('assumes an unknown task is as long as the longest known one', () => {
    const estimates = buildEstimates({
      tasks: [{ task_id: 'A', est: { size: 'L' } }, { task_id: 'B', est: { minutes: 90 } }, { task_id: 'UNKNOWN' }],
    });
    expect(estimates.get('UNKNOWN')).toBe(90);
  });

  it('assumes 60 minutes when nothing is known at all', () => {
    const estimates = buildEstimates({ tasks: [{ task_id: 'A' }, { task_id: 'B', est: {} }] });
    expect(estimates.get('A')).toBe(DEFAULT_UNKNOWN_MINUTES);
    expect(estimates.get('B')).toBe(60);
  });

  it('ignores unusable history values and falls back', () => {
    const estimates = buildEstimates({
      tasks: [{ task_id: 'A', est: { size: 'M' } }],
      history: new Map([['A', [0, -3, Number.NaN]]]),
    });
    expect(estimates.get('A')).toBe(30);
  });
});

describe('getMedian', () => {
  it.each([
    [[5], 5],
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 2.5],
    [[], undefined],
  ])('median of %j is %s', (values, expected) => expect(getMedian(values)).toBe(expected));
});
