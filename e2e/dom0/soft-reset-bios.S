/*
 * The soft-reset scenario's firmware: halt-bios.S (which says why not
 * SeaBIOS) plus an NMI handler that asks Xen for a soft reset, as a kexec
 * or kdump kernel does before it starts the next kernel:
 * SCHEDOP_shutdown with SHUTDOWN_soft_reset.
 *
 * dom0 sends the NMI (`xl trigger <domain> nmi`).  Xen shuts the domain
 * down with reason soft_reset; xl's monitor process (the daemon of
 * `xl create`) sees it and, with on_soft_reset="soft-reset", calls
 * libxl_domain_soft_reset(): libxl saves the emulator's xenstore data,
 * suspends and kills QEMU, soft-resets the domain (same domain id, memory
 * kept), writes the data back and starts a new QEMU.  The vCPU then goes
 * on after the hypercall, returns from the NMI and halts again.
 *
 * The hypercall from real mode: Xen accepts hypercalls at CPL 0 in real
 * mode and reads their arguments as from a 32-bit guest (eax = hypercall
 * number, ebx and ecx = arguments), with guest addresses taken as linear
 * ones, which without paging are physical.  The instruction is vmmcall on
 * AMD (SVM, what make e2e's QEMU offers Xen) and vmcall on Intel (VMX);
 * CPUID's vendor string chooses.
 *
 * Only constants and assembler-local labels, as in halt-bios.S: the blob
 * needs no linking (gcc -c, then objcopy -O binary).
 */
#include "bios.inc"

        .equ    NMI_HANDLER, 0x100      /* offset in segment F000 */
        .equ    SHUTDOWN_ARG, 0x500     /* struct sched_shutdown, at 0:0500 */
        .equ    HYPERVISOR_sched_op, 29 /* xen/include/public/xen.h */
        .equ    SCHEDOP_shutdown, 2     /* xen/include/public/sched.h */
        .equ    SHUTDOWN_soft_reset, 5

        .code16
        .text
        .org    0
        iret                            /* F000:0000: every other vector */

        .org    0x10
start:                                  /* F000:0010 */
        cli
        xorw    %ax, %ax
        iret_vectors
        movw    $NMI_HANDLER, %es:8     /* vector 2: NMI */
        halt_for_good

        .org    NMI_HANDLER
        pushal
        pushw   %ds
        xorw    %ax, %ax
        movw    %ax, %ds
        movl    $SHUTDOWN_soft_reset, SHUTDOWN_ARG
        xorl    %eax, %eax
        cpuid
        cmpl    $0x68747541, %ebx       /* "Auth" of "AuthenticAMD" */
        movl    $HYPERVISOR_sched_op, %eax      /* mov keeps the flags */
        movl    $SCHEDOP_shutdown, %ebx
        movl    $SHUTDOWN_ARG, %ecx
        jne     3f
        vmmcall
        jmp     4f
3:      vmcall
4:      popw    %ds
        popal
        iret

        reset_vector
