/** The Product Store Grafana dashboards, as code. `node --import tsx monitoring/grafana/generate.ts` writes them. */
import { queryPanels } from './builder';
import { backendDashboard } from './dashboards/backend';
import { cartServiceDashboard } from './dashboards/cart-service';
import { cassandraDashboard } from './dashboards/cassandra';
import { orderServiceDashboard } from './dashboards/order-service';
import { systemOverviewDashboard } from './dashboards/system-overview';
import { userServiceDashboard } from './dashboards/user-service';

export type { Dashboard, Panel, Target } from './builder';

/** Every dashboard, in menu order; each is written to dashboards/<uid>.json. */
export const dashboards = [
  systemOverviewDashboard,
  backendDashboard,
  cartServiceDashboard,
  orderServiceDashboard,
  userServiceDashboard,
  cassandraDashboard,
];

export interface PanelQuery {
  /** The dashboard's uid. */
  dashboard: string;
  /** The panel's title; with several queries, followed by the query's legend (or refId) in brackets. */
  panel: string;
  /** Raw PromQL, with $__rate_interval / $__interval / $__range still in it. */
  expr: string;
}

/** A legend without its {{label}} placeholders: `p99 {{instance}}` names the query `p99`. */
const legendName = (legend: string): string => legend.replace(/\{\{[^}]*\}\}/g, '').replace(/\s+/g, ' ').trim();

/** Every PromQL expression of every panel, in dashboard and panel order. */
export function panelQueries(): PanelQuery[] {
  return dashboards.flatMap((d) =>
    queryPanels(d).flatMap((p) =>
      p.targets.map((t) => ({
        dashboard: d.uid,
        panel: p.targets.length > 1 ? `${p.title} [${legendName(t.legendFormat) || t.refId}]` : p.title,
        expr: t.expr,
      })),
    ),
  );
}
