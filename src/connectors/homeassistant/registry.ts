// Areas of Home Assistant entities, from its registries (WebSocket
// commands config/entity_registry/list, config/device_registry/list and
// config/area_registry/list): an entity's area is its own area_id, else that
// of its device; the label is the area's name. Entries of an unexpected
// shape are skipped.

export type AreaIndex = ReadonlyMap<string, string>;

type Entry = Record<string, unknown>;

function entries(v: unknown): Entry[] {
  return Array.isArray(v) ? v.filter((e): e is Entry => e !== null && typeof e === 'object' && !Array.isArray(e)) : [];
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** entity_id → area name, for the entities that have one. */
export function areaIndex(entityRegistry: unknown, deviceRegistry: unknown, areaRegistry: unknown): AreaIndex {
  const names = new Map<string, string>();
  for (const a of entries(areaRegistry)) {
    const id = str(a.area_id);
    const name = str(a.name);
    if (id !== undefined && name !== undefined) names.set(id, name);
  }
  const deviceArea = new Map<string, string>();
  for (const d of entries(deviceRegistry)) {
    const id = str(d.id);
    const area = str(d.area_id);
    if (id !== undefined && area !== undefined) deviceArea.set(id, area);
  }
  const out = new Map<string, string>();
  for (const e of entries(entityRegistry)) {
    const entityId = str(e.entity_id);
    if (entityId === undefined) continue;
    const deviceId = str(e.device_id);
    const areaId = str(e.area_id) ?? (deviceId !== undefined ? deviceArea.get(deviceId) : undefined);
    const name = areaId !== undefined ? names.get(areaId) : undefined;
    if (name !== undefined) out.set(entityId, name);
  }
  return out;
}
