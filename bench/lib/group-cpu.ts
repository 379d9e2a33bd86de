/**
 * CPU time of a process group, from /proc: what a gateway (all its processes — nginx's
 * master and worker, a Node server) really spent, as opposed to the throughput-derived
 * estimate. Every benchmark child leads its own group (spawned detached), so its pid
 * names the group.
 *
 * @example
 *   const before = groupCpuMs(running.pid);
 *   // … load …
 *   const usPerRequest = ((groupCpuMs(running.pid) - before) * 1000) / requests;
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/**
 * The kernel's clock ticks per second (the unit of /proc's CPU times), 100 if unknown.
 *
 * @example
 *   const us = (ticks * 1e6) / clockTicks();
 */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond =
        Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU of every live process whose group is `pgid`, in ms; 0 off Linux. */
export function groupCpuMs(pgid: number): number {
  let ticks = 0;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    // Fields after the command name (which may hold spaces): state ppid pgrp … utime stime.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(rest[2]) !== pgid) continue;
    ticks += Number(rest[11]) + Number(rest[12]);
  }
  return (ticks * 1000) / clockTicks();
}
