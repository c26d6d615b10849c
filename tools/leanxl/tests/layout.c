/* leanxl's layout check: the sizes and offsets src/xen.rs relies on, printed from the
 * installed Xen 4.17 headers (libxen-dev). Compiled and run by src/xen.rs's tests, which
 * compare every line with the Rust side. With an argument: the field sizes instead. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <xenctrl.h>
#include <xenguest.h>
#include <xenstore.h>

#define OFF(name, type, field) printf("%s %zu\n", name, offsetof(type, field))
#define SZF(name, type, field) printf("%s %zu\n", name, sizeof(((type *)0)->field))

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "sizes") == 0) {
        SZF("dom.console_pfn", struct xc_dom_image, console_pfn);
        SZF("dom.xenstore_pfn", struct xc_dom_image, xenstore_pfn);
        SZF("dom.pv_p2m", struct xc_dom_image, pv_p2m);
        SZF("dom.total_pages", struct xc_dom_image, total_pages);
        SZF("dom.console_evtchn", struct xc_dom_image, console_evtchn);
        SZF("dom.xenstore_evtchn", struct xc_dom_image, xenstore_evtchn);
        SZF("dom.console_domid", struct xc_dom_image, console_domid);
        SZF("dom.xenstore_domid", struct xc_dom_image, xenstore_domid);
        SZF("dom.max_vcpus", struct xc_dom_image, max_vcpus);
        SZF("dominfo.domain", xc_domaininfo_t, domain);
        SZF("dominfo.flags", xc_domaininfo_t, flags);
        return 0;
    }
    printf("createdomain.size %zu\n", sizeof(struct xen_domctl_createdomain));
    OFF("createdomain.ssidref", struct xen_domctl_createdomain, ssidref);
    OFF("createdomain.handle", struct xen_domctl_createdomain, handle);
    OFF("createdomain.flags", struct xen_domctl_createdomain, flags);
    OFF("createdomain.iommu_opts", struct xen_domctl_createdomain, iommu_opts);
    OFF("createdomain.max_vcpus", struct xen_domctl_createdomain, max_vcpus);
    OFF("createdomain.max_evtchn_port", struct xen_domctl_createdomain, max_evtchn_port);
    OFF("createdomain.max_grant_frames", struct xen_domctl_createdomain, max_grant_frames);
    OFF("createdomain.max_maptrack_frames", struct xen_domctl_createdomain, max_maptrack_frames);
    OFF("createdomain.grant_opts", struct xen_domctl_createdomain, grant_opts);
    OFF("createdomain.vmtrace_size", struct xen_domctl_createdomain, vmtrace_size);
    OFF("createdomain.cpupool_id", struct xen_domctl_createdomain, cpupool_id);
    OFF("createdomain.arch", struct xen_domctl_createdomain, arch);
    printf("arch.size %zu\n", sizeof(struct xen_arch_domainconfig));
    OFF("arch.emulation_flags", struct xen_arch_domainconfig, emulation_flags);
    OFF("arch.misc_flags", struct xen_arch_domainconfig, misc_flags);
    printf("dominfo.size %zu\n", sizeof(xc_domaininfo_t));
    OFF("dominfo.domain", xc_domaininfo_t, domain);
    OFF("dominfo.flags", xc_domaininfo_t, flags);
    printf("dominfo.dying %u\n", (unsigned)XEN_DOMINF_dying);
    OFF("dom.console_pfn", struct xc_dom_image, console_pfn);
    OFF("dom.xenstore_pfn", struct xc_dom_image, xenstore_pfn);
    OFF("dom.pv_p2m", struct xc_dom_image, pv_p2m);
    OFF("dom.total_pages", struct xc_dom_image, total_pages);
    OFF("dom.console_evtchn", struct xc_dom_image, console_evtchn);
    OFF("dom.xenstore_evtchn", struct xc_dom_image, xenstore_evtchn);
    OFF("dom.console_domid", struct xc_dom_image, console_domid);
    OFF("dom.xenstore_domid", struct xc_dom_image, xenstore_domid);
    OFF("dom.max_vcpus", struct xc_dom_image, max_vcpus);
    printf("xs_permissions.size %zu\n", sizeof(struct xs_permissions));
    OFF("xs_permissions.perms", struct xs_permissions, perms);
    printf("XS_PERM_READ %u\n", (unsigned)XS_PERM_READ);
    printf("XS_PERM_NONE %u\n", (unsigned)XS_PERM_NONE);
    printf("grant_version_1 %u\n", (unsigned)XEN_DOMCTL_GRANT_version(1));
    printf("ENOENT %d\n", ENOENT);
    return 0;
}
