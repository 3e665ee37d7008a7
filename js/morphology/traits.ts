// The MorphologyPanel's model: the traits of `cavewidgets.MorphologyPanel`
// (src/cavewidgets/morphology/panel.py), shared by the view's modules.
import type { WidgetModel } from "../shared/transport";
import type { WheelMode } from "../shared/wheel_guard";

export interface PanelTraits {
  height: number;
  color: string;
  input_color: string;
  output_color: string;
  opacity: number;
  show_mesh: boolean;
  show_skeleton: boolean;
  show_synapses: boolean;
  color_by: string;
  status: string;
  error: string;
  title: string;
  empty_text: string;
  data_version: number;
  highlight_index: number;
  wheel: WheelMode;
}
export type Model = WidgetModel<PanelTraits>;
export type Toggle = "show_mesh" | "show_skeleton" | "show_synapses";
