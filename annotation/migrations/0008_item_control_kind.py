import django.db.models.deletion
from django.db import migrations, models


def mark_attention_checks(apps, schema_editor):
    Item = apps.get_model("annotation", "Item")
    Item.objects.exclude(attention_check_id="").update(control_kind="attention")


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0007_study_draft_spec_versions"),
    ]

    operations = [
        migrations.AddField(
            model_name="item",
            name="control_kind",
            field=models.CharField(
                blank=True,
                db_index=True,
                default="",
                help_text=(
                    "quality control: blank for a real item, else attention | gold | degraded; "
                    "controls never enter coverage, k or any statistic"
                ),
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="item",
            name="control_of",
            field=models.ForeignKey(
                blank=True,
                help_text="degraded copies: the real item this one degrades",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="degraded_copies",
                to="annotation.item",
            ),
        ),
        migrations.RunPython(mark_attention_checks, migrations.RunPython.noop),
    ]
