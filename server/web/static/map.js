// The map of the results page: output footprints, their quicklooks as image overlays, and the selected
// output's bicubic / super-resolved pair clipped by the swipe slider. No base layer unless configured.
import * as L from './leaflet/leaflet-src.esm.js';
import { assetUrl, itemBounds } from './stac.js';

const FOOTPRINT = { color: '#0b5cad', weight: 2, fillOpacity: 0.05 };
const SELECTED = { color: '#d9480f', weight: 3, fillOpacity: 0 };

/** Leaflet map of catalogue outputs. */
export class ResultsMap {
  /** Creates the map in an element; config is the page's /map/config.json. */
  constructor(element, config) {
    this.map = L.map(element, { worldCopyJump: true, zoomSnap: 0.25 }).setView([20, 0], 2);
    if (config.tileUrl) {
      L.tileLayer(config.tileUrl, { maxZoom: 19, attribution: config.tileAttribution ?? '' }).addTo(this.map);
    }
    // Quicklooks under the footprints; the comparison pair above both.
    this.map.createPane('quicklooks').style.zIndex = '390';
    this.map.createPane('compare').style.zIndex = '420';
    this.quicklooks = L.layerGroup().addTo(this.map);
    this.footprints = L.featureGroup().addTo(this.map);
    this.compare = L.layerGroup().addTo(this.map);
    this.byId = new Map();
    this.selectedId = null;
    this.afterOverlay = null;
    this.swipePercent = 50;
    this.onSelect = () => {};
  }

  /** Draws a page of items (footprints and quicklooks) and fits the map to them. */
  showItems(items) {
    this.quicklooks.clearLayers();
    this.footprints.clearLayers();
    this.clearComparison();
    this.byId.clear();
    for (const item of items) {
      const geometry = item.geometry ?? boundsPolygon(itemBounds(item));
      if (!geometry) continue;
      const layer = L.geoJSON(geometry, { style: () => FOOTPRINT });
      layer.bindTooltip(item.id, { sticky: true });
      layer.on('click', () => this.onSelect(item));
      layer.addTo(this.footprints);
      this.byId.set(item.id, layer);
      const bounds = itemBounds(item);
      const thumb = assetUrl(item, 'thumbnail');
      if (bounds && thumb.url) {
        L.imageOverlay(thumb.url, bounds, { pane: 'quicklooks', opacity: 0.85, alt: `Quicklook of ${item.id}` }).addTo(this.quicklooks);
      }
    }
    const b = this.footprints.getBounds();
    if (b.isValid()) this.map.fitBounds(b, { padding: [20, 20], maxZoom: 14 });
  }

  /** Highlights an item and lays its before/after pair over the map (clipped by the swipe position). */
  select(item, beforeUrl, afterUrl, showOverlay) {
    for (const [id, layer] of this.byId) layer.setStyle(id === item.id ? SELECTED : FOOTPRINT);
    this.selectedId = item.id;
    this.clearComparison();
    const bounds = itemBounds(item);
    if (bounds && showOverlay && beforeUrl && afterUrl) {
      L.imageOverlay(beforeUrl, bounds, { pane: 'compare', alt: `Bicubic quicklook of ${item.id}` }).addTo(this.compare);
      this.afterOverlay = L.imageOverlay(afterUrl, bounds, { pane: 'compare', className: 'sr-overlay-after', alt: `Super-resolved quicklook of ${item.id}` });
      this.afterOverlay.addTo(this.compare);
      this.setSwipe(this.swipePercent);
    }
    const layer = this.byId.get(item.id);
    if (layer) this.map.fitBounds(layer.getBounds(), { padding: [20, 20], maxZoom: 16 });
  }

  /** Removes the comparison overlays. */
  clearComparison() {
    this.compare.clearLayers();
    this.afterOverlay = null;
  }

  /** Clips the super-resolved overlay: bicubic left of the position, super-resolved right of it. */
  setSwipe(percent) {
    this.swipePercent = percent;
    const el = this.afterOverlay?.getElement();
    if (el) el.style.clipPath = `inset(0 0 0 ${percent}%)`;
  }

  /** Lets Leaflet recompute its size after the layout changed. */
  resize() {
    this.map.invalidateSize();
  }
}

/** A GeoJSON polygon of [[s, w], [n, e]] bounds, or null. */
function boundsPolygon(bounds) {
  if (!bounds) return null;
  const [[s, w], [n, e]] = bounds;
  return { type: 'Polygon', coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] };
}
