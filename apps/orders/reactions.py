"""The orders module's reactions to other modules' events: none yet. An order waits in
`placed` until it is cancelled; the process that reserves its stock, takes the payment and
fulfils it (or compensates) is not built yet."""
