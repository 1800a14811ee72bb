import { benchRopeTables } from './rope-tables.ts';
import { printResults } from './timing.ts';

printResults('DyPE RoPE tables (4096×4096, 66048 tokens × 128)', await benchRopeTables());
