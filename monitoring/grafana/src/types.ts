/**
 * The subset of Grafana's dashboard JSON model (schemaVersion 39) that the Product Store dashboards use.
 * Kept close to what Grafana itself saves, so a provisioned dashboard looks the same after a round trip.
 */

/** Every panel and target names the provisioned datasource by uid (no template variable). */
export interface DataSourceRef {
  type: 'prometheus';
  uid: string;
}

export interface Target {
  refId: string;
  datasource: DataSourceRef;
  /** PromQL, with Grafana's $__rate_interval / $__interval / $__range left in. */
  expr: string;
  legendFormat: string;
  editorMode: 'code';
  range: boolean;
  instant: boolean;
}

export interface GridPos {
  h: number;
  w: number;
  x: number;
  y: number;
}

export interface ThresholdStep {
  color: string;
  /** null is the base step. */
  value: number | null;
}

export interface Thresholds {
  mode: 'absolute' | 'percentage';
  steps: ThresholdStep[];
}

export interface ValueMapping {
  type: 'value';
  options: Record<string, { text: string; color: string; index: number }>;
}

export interface FieldOverride {
  matcher: { id: 'byName' | 'byFrameRefID' | 'byRegexp'; options: string };
  properties: Array<{ id: string; value: unknown }>;
}

export interface FieldConfig {
  defaults: {
    unit: string;
    decimals?: number;
    min?: number;
    max?: number;
    color: { mode: string };
    thresholds: Thresholds;
    mappings: ValueMapping[];
    custom?: Record<string, unknown>;
  };
  overrides: FieldOverride[];
}

export type PanelType = 'timeseries' | 'stat' | 'gauge' | 'table';

export interface Panel {
  id: number;
  type: PanelType;
  title: string;
  description: string;
  gridPos: GridPos;
  datasource: DataSourceRef;
  targets: Target[];
  fieldConfig: FieldConfig;
  options: Record<string, unknown>;
}

export interface RowPanel {
  id: number;
  type: 'row';
  title: string;
  collapsed: false;
  gridPos: GridPos;
  panels: [];
}

export type AnyPanel = Panel | RowPanel;

export interface DashboardLink {
  type: 'dashboards';
  title: string;
  tags: string[];
  asDropdown: boolean;
  includeVars: boolean;
  keepTime: boolean;
  icon: string;
  tooltip: string;
  url: string;
  targetBlank: boolean;
}

export interface Dashboard {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  timezone: string;
  editable: boolean;
  graphTooltip: number;
  schemaVersion: number;
  version: number;
  fiscalYearStartMonth: number;
  liveNow: boolean;
  weekStart: string;
  time: { from: string; to: string };
  timepicker: { refresh_intervals: string[] };
  refresh: string;
  templating: { list: [] };
  annotations: { list: Array<Record<string, unknown>> };
  links: DashboardLink[];
  panels: AnyPanel[];
}
