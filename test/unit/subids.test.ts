// The slot arithmetic of --userns=auto ranges (src/runtime/subids.ts): pure, no /etc access.
import { describe, expect, it } from 'vitest';
import { idmappedLayersSupported, RANGE_SIZE, slotCount, subidSlots } from '../../src/runtime/subids.js';

describe('subordinate id slots', () => {
  it('slot k is the k-th whole run of 65536 ids through the entries, in file order', () => {
    const uids = [
      { start: 200000, count: RANGE_SIZE * 2 + 5 },
      { start: 1_000_000, count: RANGE_SIZE },
    ];
    const gids = [{ start: 300000, count: RANGE_SIZE * 10 }];
    expect(slotCount(uids)).toBe(3);
    const s = subidSlots({ uids, gids });
    expect(s.slots).toBe(3); // the smaller of the two files
    expect(s.range(0)).toEqual({ uidBase: 200000, gidBase: 300000, size: RANGE_SIZE });
    expect(s.range(1)).toEqual({ uidBase: 200000 + RANGE_SIZE, gidBase: 300000 + RANGE_SIZE, size: RANGE_SIZE });
    expect(s.range(2)).toEqual({ uidBase: 1_000_000, gidBase: 300000 + 2 * RANGE_SIZE, size: RANGE_SIZE });
  });

  it('an entry smaller than one range gives no slot', () => {
    expect(slotCount([{ start: 100000, count: RANGE_SIZE - 1 }])).toBe(0);
  });

  it('idmapped overlay layers need Linux 5.19', () => {
    expect(idmappedLayersSupported('6.18.0-1-amd64')).toBe(true);
    expect(idmappedLayersSupported('5.19.0')).toBe(true);
    expect(idmappedLayersSupported('5.15.0-91-generic')).toBe(false);
    expect(idmappedLayersSupported('4.19.0')).toBe(false);
  });
});
