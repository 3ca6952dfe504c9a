/**
 * Performance marks the browser test reads: when the first page showed data, and when each
 * closed round reached the job page. Marks cost nothing when nobody reads them.
 */
let marked = false;

export function markFirstData(page: string): void {
  if (marked) return;
  marked = true;
  performance.mark("qm:first-data", { detail: { page } });
}

export function markRoundShown(jobId: number, round: number): void {
  const name = `qm:round:${jobId}:${round}`;
  if (performance.getEntriesByName(name).length === 0) performance.mark(name);
}
