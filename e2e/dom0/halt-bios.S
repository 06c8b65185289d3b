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
 * (gcc -c, then objcopy -O binary).
 */
        .code16
        .text
        .org    0
        iret                            /* F000:0000: every interrupt vector */

        .org    0x10
start:                                  /* F000:0010 */
        cli
        xorw    %ax, %ax
        movw    %ax, %es
        xorw    %di, %di
        movw    $256, %cx
1:      movw    $0x0000, %es:(%di)
        movw    $0xf000, %es:2(%di)
        addw    $4, %di
        loop    1b
        movb    $0xff, %al              /* mask every line of both PICs */
        outb    %al, $0x21
        outb    %al, $0xa1
2:      sti
        hlt
        jmp     2b

        .org    0xfff0
        ljmp    $0xf000, $0x10          /* the reset vector: to start */

        .org    0x10000
