/*
 * The e2e guest's firmware: a 64 KiB blob that libxl hands to hvmloader in
 * place of SeaBIOS (bios_path_override).  hvmloader copies it to just below
 * 1 MiB and jumps to its reset vector, F000:FFF0, in real mode.  It points
 * every interrupt vector at an IRET, masks both 8259s and halts with
 * interrupts enabled: the vCPU sleeps until the domain is destroyed and costs
 * no CPU under TCG.
 *
 * Why not SeaBIOS: without a boot device it resets the guest after 60 s of
 * guest time, and xl then re-creates it under a new domain id; the time runs
 * on across every save and restore, so the guest of a long scenario list
 * would reboot in the middle of one.
 *
 * Only constants and assembler-local labels: the blob needs no linking
 * (gcc -c, then objcopy -O binary).  bios.inc has what soft-reset-bios.S
 * shares.
 */
#include "bios.inc"

        .code16
        .text
        .org    0
        iret                            /* F000:0000: every interrupt vector */

        .org    0x10
start:                                  /* F000:0010 */
        cli
        xorw    %ax, %ax
        iret_vectors
        halt_for_good

        reset_vector
