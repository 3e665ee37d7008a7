// The TableBrowser's model: the traits of `cavewidgets.TableBrowser` (src/cavewidgets/table/widget.py)
// and the types its view modules share.
import type { WidgetModel } from "../shared/transport";
import type { ColumnKind } from "./format";

export interface Column {
  name: string;
  kind: ColumnKind;
  key?: boolean;
}

export type FilterSpec =
  | { kind: "range"; min: string | number | null; max: string | number | null }
  | { kind: "in"; values: (string | number | boolean | null)[] }
  | { kind: "contains"; text: string };

/** One cached block of view rows, as decoded from a page. */
export interface Block {
  version: number;
  cells: (string | null)[][]; // [column][row]
  rowIds: number[]; // position of each row in the original frame
  selected: boolean[];
  colors: (string | null)[]; // stripe colour per row (Explorer: one colour per root id)
}

export interface TableTraits {
  columns: Column[];
  total_rows: number;
  filtered_rows: number;
  selected_count: number;
  view_version: number;
  sort: [string, boolean][];
  filters: Record<string, FilterSpec>;
  search_text: string;
  hidden_columns: string[];
  height: number;
  error: string;
  key: string | null;
}
export type Model = WidgetModel<TableTraits>;
