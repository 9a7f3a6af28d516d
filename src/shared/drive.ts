/** A tape drive: a tape host of the inventory and one of its devices, e.g. `{"host": "tapesrv", "device": "rmt0"}`. */
export interface Drive {
  host: string;
  device: string;
}
