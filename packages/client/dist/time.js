/** The longest wait one timer holds (2^31 − 1 ms, 24.8 days); longer ones are slept in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Real time: `Date.now()` and `setTimeout`, in steps for waits past 24.8 days. */
export const realClock = {
    now: () => Date.now(),
    async sleep(ms) {
        let left = Math.max(0, ms);
        do {
            const step = Math.min(left, MAX_TIMER_MS);
            left -= step;
            await new Promise((resolve) => setTimeout(resolve, step));
        } while (left > 0);
    },
};
