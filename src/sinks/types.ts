import type { IngestResult } from '../native/types.js';

/** A batch of samples in the columns produced by the native core (output: 'columns'). */
export interface ColumnBatch {
  samples: number;
  seriesIds: Buffer;
  timestamps: Buffer;
  values: Buffer;
  distinctIds: Buffer;
  seriesDefs: Buffer;
  seriesDefOffsets: Buffer;
}

export function columnBatchOf(result: IngestResult): ColumnBatch {
  const empty = Buffer.alloc(0);
  return {
    samples: result.samples,
    seriesIds: result.seriesIds ?? empty,
    timestamps: result.timestamps ?? empty,
    values: result.values ?? empty,
    distinctIds: result.distinctIds ?? empty,
    seriesDefs: result.seriesDefs ?? empty,
    seriesDefOffsets: result.seriesDefOffsets ?? empty,
  };
}
